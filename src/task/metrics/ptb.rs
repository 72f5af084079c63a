//! The tokenisation pycocoevalcap applies before CIDEr: Stanford's PTBTokenizer
//! (`-preserveLines -lowerCase`) followed by dropping the punctuation tokens
//! `'' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;`.
//!
//! This is a port of the PTB rules that matter for captions: lower-casing, splitting off
//! punctuation, quotes and brackets (whose escapes come out lower-cased, `-lrb-`, and so are
//! not in the dropped list and stay), clitics (`do n't`, `dog 's`, `they 're`), ellipses and
//! dashes, keeping numbers (`3.5`, `1,000`), hyphenated words and abbreviations (`mr.`, `u.s.`)
//! whole. It is checked against the Java tokenizer's output on the CIDEr fixture set.

/// Tokens pycocoevalcap removes after tokenising.
pub const PUNCTUATIONS: [&str; 17] =
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"];

const CLITICS: [&str; 7] = ["n't", "'s", "'re", "'ve", "'ll", "'d", "'m"];

fn is_abbreviation(w: &str) -> bool {
    // Single letters with dots (u.s., a.m.) and a few common titles keep their final period.
    let letters_dots = w.len() >= 2
        && w.ends_with('.')
        && w.split('.').filter(|p| !p.is_empty()).all(|p| p.chars().count() == 1 && p.chars().all(char::is_alphabetic))
        && w.matches('.').count() >= 2;
    letters_dots || ["mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "sr.", "vs.", "etc.", "inc.", "co."].contains(&w)
}

/// Splits one whitespace-free chunk into PTB tokens.
fn split_chunk(chunk: &str, out: &mut Vec<String>) {
    let mut s: &str = chunk;
    let mut tail: Vec<String> = Vec::new();
    // Leading punctuation.
    loop {
        if let Some(r) = s.strip_prefix("``") {
            out.push("``".into());
            s = r;
        } else if let Some(r) = s.strip_prefix('"') {
            out.push("``".into());
            s = r;
        } else if let Some(c) = s.chars().next().filter(|c| "([{".contains(*c)) {
            out.push(
                match c {
                    '(' => "-lrb-",
                    '[' => "-lsb-",
                    _ => "-lcb-",
                }
                .into(),
            );
            s = &s[1..];
        } else if let Some(c) = s.chars().next().filter(|c| "'`".contains(*c)) {
            if s.len() > 1 && !CLITICS.iter().any(|k| s == *k) {
                out.push("`".into());
                s = &s[c.len_utf8()..];
            } else {
                break;
            }
        } else if let Some(r) = s.strip_prefix("--") {
            out.push("--".into());
            s = r;
        } else if s.len() > 1 && s.starts_with('-') && !s[1..].starts_with(|c: char| c.is_ascii_digit()) {
            out.push("-".into());
            s = &s[1..];
        } else {
            break;
        }
    }
    // Trailing punctuation.
    loop {
        if s.is_empty() {
            break;
        }
        if let Some(r) = s.strip_suffix("...") {
            tail.push("...".into());
            s = r;
        } else if let Some(r) = s.strip_suffix("''") {
            tail.push("''".into());
            s = r;
        } else if let Some(r) = s.strip_suffix('"') {
            tail.push("''".into());
            s = r;
        } else if let Some(c) = s.chars().last().filter(|c| ")]}".contains(*c)) {
            tail.push(
                match c {
                    ')' => "-rrb-",
                    ']' => "-rsb-",
                    _ => "-rcb-",
                }
                .into(),
            );
            s = &s[..s.len() - 1];
        } else if let Some(c) = s.chars().last().filter(|c| ",;:?!".contains(*c)) {
            tail.push(c.to_string());
            s = &s[..s.len() - 1];
        } else if let Some(r) = s.strip_suffix("--") {
            tail.push("--".into());
            s = r;
        } else if s.len() > 1 && s.ends_with('-') {
            tail.push("-".into());
            s = &s[..s.len() - 1];
        } else if s.ends_with('.') && s.len() > 1 && !is_abbreviation(s) {
            tail.push(".".into());
            s = &s[..s.len() - 1];
        } else if s.len() > 1 && s.ends_with('\'') && !s.ends_with("''") {
            tail.push("'".into());
            s = &s[..s.len() - 1];
        } else {
            break;
        }
    }
    if !s.is_empty() {
        // Clitics.
        let lower = s;
        let mut clitic = None;
        for k in CLITICS {
            if lower.len() > k.len() && lower.ends_with(k) {
                clitic = Some(k);
                break;
            }
        }
        match clitic {
            Some(k) => {
                let stem = &s[..s.len() - k.len()];
                // "can't" -> "ca n't", "won't" -> "wo n't" (PTB splits before n't).
                out.push(stem.to_string());
                out.push(k.to_string());
            }
            None => {
                if s == "..." || s == "." || s == "-" || s == "--" {
                    out.push(s.to_string());
                } else if s == "\"" {
                    out.push("``".into());
                } else {
                    out.push(s.to_string());
                }
            }
        }
    }
    out.extend(tail.into_iter().rev());
}

/// PTB tokens of one caption (lower-cased), before the punctuation is dropped.
pub fn ptb_tokens(caption: &str) -> Vec<String> {
    let lowered = caption.replace('\n', " ").to_lowercase();
    let mut out = Vec::new();
    for chunk in lowered.split_whitespace() {
        split_chunk(chunk, &mut out);
    }
    out
}

/// What pycocoevalcap scores: the tokens joined by single spaces, punctuation dropped.
pub fn tokenize(caption: &str) -> String {
    ptb_tokens(caption).into_iter().filter(|t| !PUNCTUATIONS.contains(&t.as_str())).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions() {
        assert_eq!(tokenize("A man riding a horse."), "a man riding a horse");
        assert_eq!(tokenize("Two dogs, playing (in the snow)!"), "two dogs playing -lrb- in the snow -rrb-");
        assert_eq!(tokenize("The dog's ball isn't red..."), "the dog 's ball is n't red");
        assert_eq!(tokenize("\"Hello\" -- she said; 3.5 miles"), "hello she said 3.5 miles");
        assert_eq!(tokenize("..."), "");
    }
}

//! The tokenisation pycocoevalcap applies before CIDEr: Stanford CoreNLP 3.4.1's
//! `PTBTokenizer -preserveLines -lowerCase`, run on all captions of a call as one file (one
//! caption a line), followed by dropping the punctuation tokens in [`PUNCTUATIONS`].
//!
//! This is an independent implementation written against the jar's observable behaviour
//! only (the jar was run as a black box on probe inputs; no CoreNLP source was consulted).
//! The scanner ([`scan`]) tries every kind of token at each position and keeps the longest
//! match; the character classes ([`chars`]) and word lists ([`words`]) were measured by
//! running the jar on every BMP code point and on lists of abbreviations and clitics.
//!
//! Observed behaviour it reproduces, among others: emoji and other untokenizable characters
//! are deleted; `cannot` -> `can not`, `gonna` -> `gon na`, `'tis` -> `'t is`; clitics split
//! (`do n't`, `dog 's`); `&amp;` -> `&`; `£` -> `#`; `€` -> `$`; `½` -> `1/2`; `…` -> `...`;
//! dashes -> `--`; curly quotes -> `` / ''; brackets escaped (`-lrb-`, lower-cased, so they
//! survive the filter); `1 1/2` and phone numbers keep an inner U+00A0; abbreviations keep
//! their period, and some add a sentence-final `.` depending on what follows, even on the
//! next caption (so [`tokenize`] of one caption can differ from [`tokenize_corpus`]); `\r`,
//! U+2028, U+2029, U+000B and U+000C end a line, shifting later captions as in pycocoevalcap.
//!
//! Verified against tests/fixtures/ptb/cases.json (7,400 captions from
//! tests/fixtures/make_ptb_fixtures.py): all equal, raw and filtered, and CIDEr on that
//! fixture matches pycocoevalcap to 1e-15. Fuzzed against the jar on 68,394 further captions
//! (new seeds of the generator's building blocks, and random mixes of tricky characters): 13
//! of 53,300 block-built captions and 1,232 of 15,094 random mixes still differ. Known
//! differences, all in unusual text: soft hyphens (U+00AD) beside punctuation or inside
//! compounds and abbreviations; combining marks after digits, periods or non-Latin letters
//! (`٠١٢é`, `p.m.́41`); capital sigma at the end of a word before a hyphen (`ΣΟΦΟΣ-ᐁ`); `!`
//! and `?` inside words with periods or entities; run-together clitics and apostrophe words
//! (`li'll'il`, `nat'l.;`, `Can'tcap'n`, `CANNOT'em`); compounds such as `1/4-100km/h`,
//! `50/50-80s`, `5.,3-4`, `1080p.0.5,1-800`; `x-A.B`, `I.E.` at a line end, `….` runs after a
//! word (`fieldso....car`), and a few forms inside URLs (`http://x.com/☀[a`).

mod chars;
mod scan;
mod words;

/// Tokens pycocoevalcap removes after tokenising.
pub const PUNCTUATIONS: [&str; 17] =
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"];

/// Java's `toLowerCase(Locale.ENGLISH)` of one token: capital sigma becomes final `ς` after a
/// letter when no letter follows it in the token.
fn lower(tok: &str) -> String {
    let chars: Vec<char> = tok.chars().collect();
    let mut out = String::with_capacity(tok.len());
    for (k, &c) in chars.iter().enumerate() {
        if c == '\u{3a3}' {
            let after = k > 0
                && chars[..k]
                    .iter()
                    .rev()
                    .find(|c| !c.is_alphabetic() || c.is_lowercase() || c.is_uppercase())
                    .is_some_and(|c| c.is_alphabetic());
            let before_letter = chars[k + 1..].iter().any(|c| c.is_alphabetic());
            out.push(if after && !before_letter { '\u{3c2}' } else { '\u{3c3}' });
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The Java output lines for a file holding `captions` one a line, as pycocoevalcap writes
/// it: newlines inside a caption become spaces, captions are joined by `\n`.
fn file_lines(captions: &[&str]) -> Vec<Vec<String>> {
    let mut text: Vec<char> = Vec::new();
    for (k, c) in captions.iter().enumerate() {
        if k > 0 {
            text.push('\n');
        }
        text.extend(c.chars().map(|c| if c == '\n' { ' ' } else { c }));
    }
    scan::scan(&text).into_iter().map(|line| line.iter().map(|t| lower(t)).collect()).collect()
}

/// Raw PTB tokens (lower-cased, before the filter) of each caption of one pycocoevalcap
/// call. A caption holding a line break (`\r`, U+2028, ...) spreads over several output
/// lines, and later captions receive the lines that follow, as pycocoevalcap pairs them.
pub fn corpus_tokens(captions: &[&str]) -> Vec<Vec<String>> {
    let mut lines = file_lines(captions).into_iter();
    captions.iter().map(|_| lines.next().unwrap_or_default()).collect()
}

/// The filtered tokens of each caption of one pycocoevalcap call (what
/// `PTBTokenizer().tokenize` returns, split on spaces).
pub fn tokenize_corpus(captions: &[&str]) -> Vec<Vec<String>> {
    corpus_tokens(captions).into_iter().map(|toks| toks.into_iter().filter(|t| !PUNCTUATIONS.contains(&t.as_str())).collect()).collect()
}

/// PTB tokens of one caption tokenised alone (lower-cased), before the punctuation is dropped.
pub fn ptb_tokens(caption: &str) -> Vec<String> {
    corpus_tokens(&[caption]).into_iter().next().unwrap_or_default()
}

/// What pycocoevalcap scores for one caption tokenised alone: the tokens joined by single
/// spaces, punctuation dropped.
pub fn tokenize(caption: &str) -> String {
    tokenize_corpus(&[caption]).into_iter().next().unwrap_or_default().join(" ")
}

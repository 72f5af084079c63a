//! Plain words (with `cannot` -> `can not`), quotes and punctuation runs.

use super::*;

impl Scanner<'_> {
    /// `"` becomes `` when a letter, digit or `$` follows, else ''.
    pub(super) fn double_quote(&self, next: usize) -> &'static str {
        if self.is(next, |c| c.is_ascii_alphanumeric() || c == '$') { "``" } else { "''" }
    }

    pub(super) fn m_quote(&self, i: usize) -> Option<Match> {
        let c = self.at(i)?;
        // Two curly quotes or backticks in a row make one token (`«`` -> ```), never more.
        let paired = |c: char| if c == '`' { Some("`") } else { curly(c) };
        if let (Some(a), Some(b)) = (paired(c), self.at(i + 1).and_then(paired)) {
            return one(2, format!("{a}{b}"));
        }
        if let Some(q) = curly(c) {
            return one(1, q);
        }
        if self.exact(i, "``") {
            return one(2, "``");
        }
        if self.exact(i, "''") {
            return one(2, "''");
        }
        match c {
            '"' => one(1, self.double_quote(i + 1)),
            '\'' => {
                let open = self.is(i + 1, is_ascii_letter) && self.is(i + 2, |c| !is_space(c));
                one(1, if open { "`" } else { "'" })
            }
            '`' => one(1, "`"),
            _ => None,
        }
    }

    pub(super) fn m_punct(&self, i: usize) -> Option<Match> {
        let c = self.at(i)?;
        if c == '!' || c == '?' {
            let mut j = i;
            while self.is(j, |c| c == '!' || c == '?') {
                j += 1;
            }
            return one(j - i, self.text(i, j));
        }
        if c == '.' {
            let mut j = i;
            while self.at(j) == Some('.') && j < i + 5 {
                j += 1;
            }
            if j - i >= 3 {
                return one(j - i, "...");
            }
            if self.is(i + 1, |c| c == ' ' || c == '\u{a0}')
                && self.at(i + 2) == Some('.')
                && self.is(i + 3, |c| c == ' ' || c == '\u{a0}')
                && self.at(i + 4) == Some('.')
            {
                return one(5, "...");
            }
            return one(1, ".");
        }
        if c == '-' {
            for l in ["-LRB-", "-RRB-", "-LSB-", "-RSB-", "-LCB-", "-RCB-"] {
                if self.exact(i, l) {
                    return one(5, l);
                }
            }
            let mut j = i;
            while self.at(j) == Some('-') {
                j += 1;
            }
            return match j - i {
                1 => one(1, "-"),
                2..=4 => one(j - i, "--"),
                n => one(n, self.text(i, j)),
            };
        }
        if c == '_' || c == '*' {
            let mut j = i;
            while self.at(j) == Some(c) {
                j += 1;
            }
            return one(j - i, self.text(i, j));
        }
        for pair in ["<<", ">>", "##", "@@", "\\*"] {
            if self.exact(i, pair) {
                return one(2, pair);
            }
        }
        None
    }

    pub(super) fn m_word(&self, i: usize) -> Option<Match> {
        let j = self.word_end(i);
        if j == i {
            return None;
        }
        let w = self.word_text(i, j);
        let lw = w.to_lowercase();
        // `gonna` splits, but not before `n't` or a clitic (`gonnan't`, `gimme're`).
        let clitic = ["s", "d", "m", "re", "ve", "ll"].iter().any(|cl| self.lit(j + 1, cl) && !self.is(j + 1 + cl.len(), is_letter));
        let attached = self.word_end_untrimmed(i).0 != j || (self.is(j, is_apos) && clitic);
        for &(sw, k) in SPLIT_WORDS.iter().filter(|_| !w.contains('&') && !attached) {
            if lw == sw {
                let cut: usize = w.chars().take(k).map(char::len_utf8).sum();
                return Some(Match { len: j - i, toks: vec![w[..cut].to_string(), w[cut..].to_string()] });
            }
        }
        one(j - i, w)
    }
}

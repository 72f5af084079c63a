//! Abbreviations and the sentence-final `.` some of them add (`etc. .`, `U.S. .`),
//! depending on what follows, even on the next line.

use super::*;

impl Scanner<'_> {
    /// Whitespace after `j`: how many characters, and where the next text starts.
    pub(super) fn space_after(&self, j: usize) -> (usize, usize) {
        let mut k = j;
        while self.is(k, |c| is_space(c) || ('\u{2000}'..='\u{200a}').contains(&c) || c == '\u{a0}' || c == '\u{3000}') {
            k += 1;
        }
        (k - j, k)
    }

    /// The end of an SGML tag (not an `<e-mail>` address) at `k`.
    pub(super) fn tag_at(&self, k: usize) -> Option<usize> {
        let tag = self.m_sgml(k)?.len;
        (self.m_email(k).is_none_or(|m| m.len < tag)).then_some(k + tag)
    }

    /// A sentence-starting word (`The`, `He`, ...) or an SGML tag and whitespace follow the
    /// abbreviation ending at `j`.
    pub(super) fn starter_follows(&self, j: usize) -> bool {
        let (n, k) = self.space_after(j);
        n > 0 && self.tag_at(k).is_some_and(|e| self.is(e, |c| is_space(c) || is_newline(c)))
            || n > 0
                && self.is(k, |c| c.is_ascii_uppercase())
                && STARTERS.iter().any(|w| self.lit(k, w) && self.at(k + w.chars().count()).is_none_or(is_space))
    }

    /// After an abbreviation that may end a sentence: the end of the file, two or more
    /// whitespace characters, or whitespace and a capital letter or an SGML tag follow.
    pub(super) fn ender_follows(&self, j: usize) -> bool {
        let (n, k) = self.space_after(j);
        // Capitals of the lexer's (older) Unicode: not supplementary ones, not Cherokee.
        let capital = |c: char| c.is_uppercase() && c <= '\u{ffff}' && !('\u{13a0}'..='\u{13ff}').contains(&c);
        k >= self.s.len() || n >= 2 || (n == 1 && (self.is(k, capital) || self.tag_at(k).is_some()))
    }

    pub(super) fn m_abbrev(&self, i: usize) -> Option<Match> {
        // Acronyms.
        if let Some(j) = self.acronym_end(i) {
            let t = self.text(i, j);
            if j == i + 2 {
                if self.starter_follows(j) {
                    return one(1, self.text(i, i + 1));
                }
                return one(2, t);
            }
            let mut toks = vec![t];
            if self.starter_follows(j) {
                toks.push(".".into());
            }
            return Some(Match { len: j - i, toks });
        }
        // Dotted enders (ph.d.).
        if let Some(w) = DOTTED_ENDERS.iter().find(|w| self.lit(i, w) && self.at(i + w.len()) == Some('.')) {
            let e = i + w.len();
            let mut toks = vec![self.text(i, e + 1)];
            if self.ender_follows(e + 1) {
                toks.push(".".into());
            }
            return Some(Match { len: e + 1 - i, toks });
        }
        let e = self.word_end(i);
        if e == i || self.at(e) != Some('.') {
            return None;
        }
        let w = self.word_text(i, e);
        let lw = w.to_lowercase();
        // `MFG.` and `PTY.` (but `PTY. LTD.`) in capitals are not abbreviations (`MR.` is).
        let before_ltd = self.lit(self.space_after(e + 1).1, "ltd");
        if (lw == "mfg" || (lw == "pty" && !before_ltd)) && w.chars().all(|c| c.is_ascii_uppercase()) {
            return None;
        }
        let tok = format!("{w}.");
        let len = e + 1 - i;
        if self.is(e + 1, |c| c == ',' || c == ';' || c == ':') || TITLES.contains(&lw.as_str()) {
            return one(len, tok);
        }
        let capital = CAPITAL_ABBREVS.iter().any(|a| *a == w || (a.to_uppercase() == w));
        if ENDERS.contains(&lw.as_str()) || capital {
            let mut toks = vec![tok];
            let (_, k) = self.space_after(e + 1);
            let company = (lw == "co" || lw == "pty") && self.lit(k, "ltd");
            if self.ender_follows(e + 1) && !company {
                toks.push(".".into());
            }
            return Some(Match { len, toks });
        }
        if NUMBER_ABBREVS.contains(&lw.as_str()) {
            let mut k = e + 1;
            while self.is(k, |c| is_space(c) || is_newline(c)) {
                k += 1;
            }
            if self.is(k, |c| c.is_ascii_digit()) {
                return one(len, tok);
            }
        }
        None
    }
}

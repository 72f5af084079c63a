//! Apostrophes inside and around words: clitics (`'s`, `n't`), `'tis`, `o'clock`, `y'all`.

use super::*;

impl Scanner<'_> {
    /// Clitics `'s 'd 'm 're 've 'll`, `'t` of `'tis`, `'90s`, `'em` and the like.
    pub(super) fn m_apostrophe_led(&self, i: usize) -> Option<Match> {
        let a = self.apos_len(i);
        if a == 0 {
            return None;
        }
        let k = i + a;
        for cl in ["s", "d", "m", "re", "ve", "ll"] {
            let n = cl.len();
            if self.lit(k, cl) && (!self.is(k + n, is_letter) || self.at(i) != Some('\'')) {
                // `&APOS;S` stays as written; `&apos;s` and `’s` become `'s`.
                if a == 6 && !self.exact(i, "&apos;") {
                    return one(a + n, self.text(i, k + n));
                }
                return one(a + n, format!("'{}", self.text(k, k + n)));
            }
        }
        if a == 1 {
            for rest in ["is", "was"] {
                if self.is(k, |c| c == 't' || c == 'T') && self.lit(k + 1, rest) {
                    return one(2, self.text(i, k + 1));
                }
            }
            if self.lit(i, "'n'") {
                return one(3, self.text(i, i + 3));
            }
            let led = APOSTROPHE_LED
                .iter()
                .filter(|w| self.lit(i, w) && (**w != "'n" || !self.is(i + w.len(), is_letter)))
                .map(|w| w.len())
                .max();
            if let Some(n) = led {
                return one(n, self.text(i, i + n));
            }
            if self.is(k, is_digit) && self.is(k + 1, is_digit) {
                let j = k + 2;
                if self.is(j, |c| c == 's') {
                    return one(j + 1 - i, self.text(i, j + 1));
                }
                if self.at(j).is_none_or(is_space) {
                    return one(j - i, self.text(i, j));
                }
            }
        }
        None
    }

    pub(super) fn m_nt(&self, i: usize) -> Option<Match> {
        if !self.is_nt(i) {
            return None;
        }
        let mut j = i + 3;
        while self.is(j, is_letter) {
            j += 1;
        }
        if j > i + 3 {
            return one(j - i, self.text(i, j));
        }
        let a = if self.is(i + 1, |c| c == '\'' || c == '\u{2019}') { "'" } else { "`" };
        one(3, format!("{}{}{}", self.s[i], a, self.s[i + 2]))
    }

    /// Words with an inner or final apostrophe that stay whole.
    pub(super) fn m_apostrophe_word(&self, i: usize) -> Option<Match> {
        // `ol'` and `dunkin'` not before what starts a clitic (`ol'shan't` is `ol` `'sha`...).
        let clitic_start = |k: usize| ["s", "d", "m", "re", "ve", "ll"].iter().any(|cl| self.lit(k, cl));
        let listed = APOSTROPHE_WORDS
            .iter()
            .filter(|w| self.lit(i, w) && !(w.ends_with('\'') && clitic_start(i + w.chars().count())))
            .map(|w| w.chars().count())
            .max();
        let own = self.apostrophe_pattern(i);
        match (listed, own) {
            (Some(n), Some(m)) if m.len > n => Some(m),
            (Some(n), _) => one(n, self.text(i, i + n)),
            (None, m) => m,
        }
    }

    /// `d'artagnan`, `o'clock`, `l'orange`, `y'all` (`y'` alone), `d'` before a non-letter, `ma'amx`.
    pub(super) fn apostrophe_pattern(&self, i: usize) -> Option<Match> {
        let c = self.at(i)?;
        if !is_letter(c) {
            return None;
        }
        let lc = c.to_ascii_lowercase();
        // O'Brien, dO'Neil, A'the: letters ending in a capital (not J or Y), then ', at most one
        // capital and a lower-case letter (not `DOES'NT`, `I'mx`).
        let mut j = i;
        while self.is(j, is_ascii_letter) {
            j += 1;
        }
        let clitic = ["s", "d", "m", "re", "ve", "ll"].iter().any(|cl| self.lit(j + 1, cl) && !self.is(j + 1 + cl.len(), is_letter));
        if j > i
            && self.is(j - 1, |c| c.is_ascii_uppercase() && c != 'J' && c != 'Y')
            && self.at(j) == Some('\'')
            && self.is(j + 1, is_letter)
            && self.is(j + 2, is_letter)
            && (self.is(j + 1, char::is_lowercase) || self.is(j + 2, char::is_lowercase))
            && !(self.at(j - 1) == Some('I') && self.is(j + 1, |c| c == 'm' || c == 'M'))
            && !clitic
            && !self.is_nt(j - 1)
            && !self.lit(j, "'n'")
            && !self.lit(j + 1, "tis")
            && !self.lit(j + 1, "twas")
        {
            let mut e = j + 1;
            while self.is(e, is_letter) {
                e += 1;
            }
            return one(e - i, self.text(i, e));
        }
        if self.is(i + 1, |c| c == '\'') && self.is(i + 2, is_letter) {
            let whole_clitic =
                ["s", "d", "m", "re", "ve", "ll"].iter().any(|cl| self.lit(i + 2, cl) && !self.is(i + 2 + cl.len(), is_letter));
            if matches!(lc, 'd' | 'l' | 'o') && !whole_clitic {
                let j = self.part_end(i + 2);
                return one(j - i, self.text(i, j));
            }
            if lc == 'n' && !whole_clitic && self.is(i + 3, is_letter) {
                let mut j = i + 2;
                while self.is(j, is_letter) {
                    j += 1;
                }
                return one(j - i, self.text(i, j));
            }
            // y'all, j'ai; but y's, j'd split as clitics.
            let clitic = ["s", "d", "m", "re", "ve", "ll"].iter().any(|cl| self.lit(i + 2, cl));
            if matches!(lc, 'j' | 'y') && !clitic {
                return one(2, self.text(i, i + 2));
            }
            return None;
        }
        if matches!(lc, 'd' | 'j' | 'l') && self.is(i + 1, |c| c == '\'') {
            return one(2, self.text(i, i + 2));
        }
        // ma'am, ne'er, ee'abc: two or more letters ending in a vowel, then ' and a vowel.
        let mut j = i;
        while self.is(j, is_ascii_letter) {
            j += 1;
        }
        if j >= i + 2 && self.is(j - 1, is_vowel) && self.is(j, |c| c == '\'') && self.is(j + 1, |c| is_vowel(c) && c != 'y') {
            let e = self.word_end_untrimmed(j + 1).0;
            return one(e - i, self.text(i, e));
        }
        None
    }
}

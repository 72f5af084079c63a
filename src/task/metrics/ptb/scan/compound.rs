//! Numbers and joined words: `1,000.5`, `1 1/2`, `file.txt`, `www.x.com/a`, `U.S.`,
//! `well-known`, `1/2-inch`, `what!really`.

use super::*;

impl Scanner<'_> {
    pub(super) fn m_number(&self, i: usize) -> Option<Match> {
        let mut j = i;
        if self.is(j, |c| c == '+' || c == '-') {
            j += 1;
        }
        let sep = |c: char| matches!(c, '.' | ',' | ':' | '\u{66b}' | '\u{66c}');
        if self.is(j, sep) && self.is(j + 1, is_digit) {
            j += 1;
        }
        if !self.is(j, is_digit) {
            return None;
        }
        while self.is(j, is_digit) {
            j += 1;
        }
        while self.is(j, sep) && self.is(j + 1, is_digit) {
            j += 1;
            while self.is(j, is_digit) {
                j += 1;
            }
        }
        one(j - i, self.text(i, j))
    }

    /// `1 1/2` (the space kept as U+00A0) and `(555) 123-4567`.
    pub(super) fn m_spaced_number(&self, i: usize) -> Option<Match> {
        let digits = |mut j: usize| {
            let s = j;
            while self.is(j, |c| c.is_ascii_digit()) {
                j += 1;
            }
            (j > s).then_some(j)
        };
        if self.is(i, |c| c.is_ascii_digit()) {
            let a = digits(i)?;
            if self.at(a) == Some(' ') {
                let b = digits(a + 1)?;
                if self.at(b) == Some('/') {
                    let c = digits(b + 1)?;
                    return one(c - i, format!("{}\u{a0}{}", self.text(i, a), self.text(a + 1, c)));
                }
            }
            return None;
        }
        if self.at(i) == Some('(') {
            let a = digits(i + 1)?;
            if a != i + 4 || self.at(a) != Some(')') {
                return None;
            }
            let mut b = a + 1;
            let sp = self.at(b) == Some(' ');
            if sp {
                b += 1;
            }
            let c = digits(b)?;
            if c != b + 3 || self.at(c) != Some('-') {
                return None;
            }
            let d = digits(c + 1)?;
            if d != c + 5 {
                return None;
            }
            let mid = if sp { "\u{a0}" } else { "" };
            return one(d - i, format!("-LRB-{}-RRB-{}{}", self.text(i + 1, a), mid, self.text(b, d)));
        }
        None
    }

    /// Letter-led segments joined by single dots: `file.txt`, `www.site.co.uk`, `a1.b`.
    pub(super) fn dotted_end(&self, i: usize) -> Option<usize> {
        if !self.letter_at(i) {
            return None;
        }
        let mut j = self.word_end(i);
        let mut parts = 1;
        while self.at(j) == Some('.') && self.letter_at(j + 1) {
            j = self.word_end(j + 1);
            parts += 1;
        }
        (parts > 1).then_some(j)
    }

    pub(super) fn m_dotted(&self, i: usize) -> Option<Match> {
        let mut j = self.dotted_end(i)?;
        let raw = self.text(i, j);
        let t = raw.to_lowercase();
        // `Inc.t`, `Jr.a`: an abbreviation that may end a sentence keeps its period before a
        // single letter (`Inc.t`, `ph.d.x`; but `Inc.wannabe`, `Jan.a.k.a`).
        let parts: Vec<&str> = t.split('.').collect();
        let (last, head) = parts.split_last()?;
        let head = head.join(".");
        if last.chars().count() == 1 && (ENDERS.contains(&head.as_str()) || DOTTED_ENDERS.contains(&head.as_str())) {
            return None;
        }
        // A host is `www.` or starts with a lower-case word and ends in a known domain.
        let lower_head = raw.split('.').next().is_some_and(|h| h.chars().all(|c| c.is_ascii_lowercase()));
        let web = raw.starts_with("www.") || (lower_head && [".com", ".org", ".net", ".edu"].iter().any(|d| t.ends_with(d)));
        if web && self.at(j) == Some('/') {
            let mut k = j + 1;
            while self.is(k, |c| !url_stop(c)) {
                k += 1;
            }
            while k > j + 1 && self.is(k - 1, |c| matches!(c, '.' | ',' | ':' | '!' | '?' | '-' | '\'')) {
                k -= 1;
            }
            if k >= j + 3 {
                j = k;
                return one(j - i, self.text(i, j));
            }
        }
        if self.at(j) == Some('.') && self.is(j + 1, |c| matches!(c, ',' | ';' | ':')) {
            j += 1;
        }
        one(j - i, self.word_text(i, j))
    }

    /// Single letters each followed by a dot: `u.s.`, `a.m.`, `I.`
    pub(super) fn acronym_end(&self, i: usize) -> Option<usize> {
        let mut j = i;
        while self.is(j, is_ascii_letter) && self.at(j + 1) == Some('.') {
            j += 2;
        }
        (j > i && !self.is(j, is_letter)).then_some(j)
    }

    /// Parts joined by single `-`, `_` or `/`: `well-known`, `1-800-555-1234`, `snake_case`,
    /// `and/or`, `1/2-inch`.
    pub(super) fn m_compound(&self, i: usize) -> Option<Match> {
        if !self.is(i, is_word) {
            return None;
        }
        let plain = self.ascii_part_end(i) - i;
        // `d'artagnan-car`: a word with an inner apostrophe may start a compound.
        let apostrophe = self.m_apostrophe_word(i).map(|m| m.len).filter(|&n| self.s[i..i + n].iter().all(|&c| is_word(c) || c == '\''));
        let first = [
            self.m_number(i).map(|m| m.len),
            self.dotted_end(i).map(|j| j - i),
            Some(plain),
            self.amp_end(i).map(|j| j - i),
            self.acronym_end(i).map(|j| j - i),
            apostrophe,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        if first == 0 || (plain < first && self.is(i + plain, |c| class(c) == Class::Mark)) {
            return None;
        }
        // `www.-x`, `Inc.-p.m.`, `5.-3`: an ASCII first part keeps a period before `-`.
        let ascii_first = self.s[i..i + first].iter().all(char::is_ascii);
        let first = if ascii_first && self.at(i + first) == Some('.') && self.at(i + first + 1) == Some('-') { first + 1 } else { first };
        // `10:30-10` is two tokens.
        if self.s[i..i + first].contains(&':') {
            return None;
        }
        // `80s,10-15`, `a,b,c-d`, `a,-5`: parts joined by commas start a compound when a `-`
        // part follows.
        let mut starts = vec![first];
        let end = self.comma_chain_end(i + first);
        if end > i + first && self.at(end) == Some('-') {
            starts.push(end - i);
        }
        let j = starts.into_iter().filter_map(|f| self.compound_end(i, f, f == plain || Some(f) == apostrophe)).max()?;
        let mut toks = vec![self.word_text(i, j).replace("&amp;", "&").replace("&AMP;", "&")];
        // `non-U.S.` adds a `.` as the acronym would (`a-U.S.` does not).
        if self.lit(i, "non-") && self.at(j - 1) == Some('.') && self.starter_follows(j) {
            toks.push(".".into());
        }
        Some(Match { len: j - i, toks })
    }

    /// From a comma at `k`: where the run of `,part` ends (at a `-` when a compound may
    /// follow). Memoised, so long runs of commas stay linear.
    fn comma_chain_end(&self, mut k: usize) -> usize {
        let mut seen = Vec::new();
        let end = loop {
            if self.at(k) != Some(',') {
                break k;
            }
            let known = self.chain_memo[k].get();
            if known != usize::MAX {
                break known;
            }
            seen.push(k);
            if self.at(k + 1) == Some('-') {
                break k + 1;
            }
            let e = self.part_end(k + 1).max(self.m_number(k).map_or(0, |m| k + m.len));
            if e <= k + 1 {
                break k;
            }
            k = e;
        };
        for s in seen {
            self.chain_memo[s].set(end);
        }
        end
    }

    /// The end of a compound whose first part is `first` characters long, if any other part
    /// joins it; `plain_like`: that part is a plain word (or `d'artagnan`), not a number,
    /// dotted word, acronym or `AT&T`.
    pub(super) fn compound_end(&self, i: usize, first: usize, plain_like: bool) -> Option<usize> {
        let mut j = i + first;
        let (mut joined, mut slash, mut under, mut digit_dash) = (false, false, false, false);
        // Parts joined by `-` after a `/`: at most two are taken.
        let mut dashes_after_slash = 0;
        // Every part so far is ASCII digits.
        let mut pure = self.s[i..i + first].iter().all(|c| c.is_ascii_digit());
        let (mut dashes, mut slashes) = (0, 0);
        let mut last_dotted = false;
        while let Some(c) = self.at(j).filter(|&c| matches!(c, '-' | '_' | '/' | '\u{2010}' | '\u{2011}')) {
            // `‐` (U+2010) and `_` need plain parts before them (not `non-U.S.‐phone`,
            // `u.s.-based_tree`).
            if (!matches!(c, '-' | '_' | '/') && (!plain_like || slash || last_dotted)) || (c == '_' && (!plain_like || last_dotted)) {
                break;
            }
            let c = if c == '_' || c == '/' { c } else { '-' };
            let ascii = self.s[i..j].iter().all(|c| c.is_ascii() || *c == '\u{ad}');
            let mut e = if c == '-' && ascii && !slash { self.ascii_part_end(j + 1) } else { self.part_end(j + 1) };
            let plain_e = e;
            if c == '-' {
                // Dotted parts of single letters, acronyms of two or more: `non-U.S.`, `x-a.b`
                // (not `a-frame.a`).
                let acronym = self.acronym_end(j + 1).filter(|&a| a >= j + 5);
                let dotted = self.dotted_end(j + 1).filter(|&d| {
                    self.s[j + 1..d].iter().step_by(2).all(|&c| is_letter(c))
                        && self.s[j + 1..d].iter().skip(1).step_by(2).all(|&c| c == '.')
                });
                e = e.max(dotted.unwrap_or(0)).max(acronym.unwrap_or(0));
            }
            if e == j + 1 {
                break;
            }
            last_dotted = e != plain_e;
            let part = &self.s[j + 1..e];
            let digits = part.iter().all(|&c| c.is_ascii_digit());
            // `5-1/2` (all parts digits, one dash, one slash) but not `a-1/2`, `1st-24/7`,
            // `2-3-4-50/50`.
            let fraction = digits && pure && !slash && dashes == 1;
            if c == '/' && (under || (digit_dash && !fraction) || (!joined && !plain_like)) {
                break;
            }
            let digit_led = is_digit(self.s[j + 1]);
            // `12/25-10` (two or more digits, once) but not `1/4-5pm` or `a/b-10`.
            let date = digits && pure && part.len() >= 2 && !digit_dash && slashes == 1;
            if (c == '-' && slash && ((digit_led && !date) || dashes_after_slash == 2)) || (c == '_' && slash) {
                break;
            }
            pure &= digits;
            dashes += usize::from(c == '-');
            if c == '-' && slash {
                dashes_after_slash += 1;
            }
            digit_dash |= c == '-' && digit_led;
            slash |= c == '/';
            slashes += usize::from(c == '/');
            under |= c == '_';
            j = e;
            joined = true;
        }
        // A soft hyphen joins only all-ASCII compounds (`tab\u{ad}bed-Ꭰ` is `tabbed` `-` `Ꭰ`).
        let text = &self.s[i..j];
        if !joined || (text.contains(&'\u{ad}') && !text.iter().all(|&c| c.is_ascii() || c == '\u{ad}')) {
            return None;
        }
        // `mid-1990s.,` keeps its period, `black/white.,` and `S&P-500.,` do not.
        if self.at(j) == Some('.') && self.is(j + 1, |c| matches!(c, ',' | ';' | ':')) && !slash && plain_like {
            j += 1;
        }
        Some(j)
    }

    /// Letter-led words (dotted ones too) joined by single `!` or `?` (`what!really`,
    /// `t?sh6p`, `mr.ét!the`).
    pub(super) fn m_bang_word(&self, i: usize) -> Option<Match> {
        let letters = |j: usize| self.letter_at(j).then(|| self.dotted_end(j).unwrap_or_else(|| self.word_end_untrimmed(j).0));
        let mut j = letters(i)?;
        let mut joined = false;
        while self.is(j, |c| c == '!' || c == '?') {
            match letters(j + 1) {
                Some(e) => {
                    j = e;
                    joined = true;
                }
                None => break,
            }
        }
        joined.then(|| Match { len: j - i, toks: vec![self.text(i, j)] })
    }
}

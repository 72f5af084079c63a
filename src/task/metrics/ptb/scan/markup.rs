//! Markup and web tokens: SGML tags, URLs, e-mail addresses, smileys, entities, hashtags,
//! `AT&T`-style capitals and `US$`.

use super::*;

impl Scanner<'_> {
    /// `<b>`, `</b>`, `<a href="x" />`, `<!-- x -->`, `<?xml ... ?>` (inner spaces become
    /// U+00A0).
    pub(super) fn m_sgml(&self, i: usize) -> Option<Match> {
        if self.at(i) != Some('<') {
            return None;
        }
        let done = |j: usize| one(j + 1 - i, self.text(i, j + 1).replace(' ', "\u{a0}"));
        let mut j = i + 1;
        if self.is(j, |c| c == '!' || c == '?') {
            if !self.is(j + 1, |c| is_ascii_letter(c) || c == '-') {
                return None;
            }
            j += 1;
            while self.is(j, |c| c != '>' && !is_newline(c)) {
                j += 1;
            }
            return if self.at(j) == Some('>') { done(j) } else { None };
        }
        let closing = self.at(j) == Some('/');
        if closing {
            j += 1;
        }
        if !self.is(j, is_ascii_letter) {
            return None;
        }
        let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-');
        j += 1;
        while self.is(j, name_char) {
            j += 1;
        }
        if !closing {
            loop {
                let mut k = j;
                while self.at(k) == Some(' ') {
                    k += 1;
                }
                if k == j || !self.is(k, is_ascii_letter) {
                    break;
                }
                while self.is(k, name_char) {
                    k += 1;
                }
                if self.at(k) == Some('=') {
                    let q = self.at(k + 1).filter(|&q| q == '"' || q == '\'')?;
                    k += 2;
                    while self.is(k, |c| c != q && !is_newline(c)) {
                        k += 1;
                    }
                    if self.at(k) != Some(q) {
                        return None;
                    }
                    k += 1;
                }
                j = k;
            }
        }
        while self.at(j) == Some(' ') {
            j += 1;
        }
        if !closing && self.at(j) == Some('/') {
            j += 1;
            while self.at(j) == Some(' ') {
                j += 1;
            }
        }
        if self.at(j) == Some('>') { done(j) } else { None }
    }

    pub(super) fn m_url(&self, i: usize) -> Option<Match> {
        let k = if self.lit(i, "http://") {
            i + 7
        } else if self.lit(i, "https://") {
            i + 8
        } else {
            return None;
        };
        let mut j = k;
        while self.is(j, |c| !url_stop(c)) {
            j += 1;
        }
        while j > k && self.is(j - 1, |c| matches!(c, '.' | ',' | ':' | '!' | '?' | '-' | '\'')) {
            j -= 1;
        }
        (j > k).then(|| Match { len: j - i, toks: vec![self.text(i, j)] })
    }

    /// `me@site.org`, `<me@site.org>`: almost anything but spaces and brackets around `@`.
    pub(super) fn m_email(&self, i: usize) -> Option<Match> {
        let start = if self.at(i) == Some('<') { i + 1 } else { i };
        if !self.is(start, |c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let j = self.local_end[start];
        if self.at(j) != Some('@') {
            return None;
        }
        let mut k = j + 1;
        let mut end = None;
        while self.is(k, is_domain) {
            while self.is(k, is_domain) {
                k += 1;
            }
            end = Some(k);
            if self.at(k) == Some('.') {
                k += 1;
            }
        }
        let mut e = end?;
        if self.at(e) == Some('>') {
            e += 1;
        }
        one(e - i, self.text(i, e))
    }

    /// Smileys: `[<>]?[:;=][-o']?[)(|\\@DPpO][{]`, `x-D`, `8O`, `^_^`, `:3`. All but the last
    /// kind need a following character that is not an ASCII letter or digit.
    pub(super) fn m_smiley(&self, i: usize) -> Option<Match> {
        for s in FREE_SMILEYS {
            if self.exact(i, s) {
                return one(s.chars().count(), escape_brackets(s));
            }
        }
        let mouth = |c: char| ")(|\\@DPpO][{".contains(c);
        let mut len = 0;
        let mut j = i + usize::from(self.is(i, |c| c == '>' || c == '<'));
        if self.is(j, |c| matches!(c, ':' | ';' | '=')) {
            j += 1;
            if self.is(j, |c| matches!(c, '-' | 'o' | '\'')) && self.is(j + 1, mouth) {
                j += 1;
            }
            if self.is(j, mouth) {
                len = j + 1 - i;
            }
        }
        for s in SMILEYS {
            let mut n = s.chars().count();
            if self.exact(i, &s[..1]) && self.at(i + 1) == Some('-') && self.exact(i + 2, &s[1..]) {
                n += 1;
            } else if !self.exact(i, s) {
                continue;
            }
            len = len.max(n);
        }
        if len == 0 || !self.is(i + len, |c| !c.is_ascii_alphanumeric()) {
            return None;
        }
        one(len, escape_brackets(&self.text(i, i + len)))
    }

    pub(super) fn m_entity(&self, i: usize) -> Option<Match> {
        if self.at(i) != Some('&') {
            return None;
        }
        let mut j = i + 1;
        if self.at(j) == Some('#') {
            j += 1;
            while self.is(j, |c| c.is_ascii_digit()) {
                j += 1;
            }
        } else {
            while self.is(j, is_ascii_letter) {
                j += 1;
            }
        }
        if j == i + 1 || self.at(j) != Some(';') {
            return None;
        }
        let name = self.text(i + 1, j).to_lowercase();
        let len = j + 1 - i;
        if name.starts_with('#') && name.len() > 1 {
            return one(len, self.text(i, j + 1));
        }
        for &(n, v) in ENTITIES {
            if n == name {
                if v == "\"" {
                    return one(len, self.double_quote(j + 1));
                }
                return Some(Match { len, toks: if v.is_empty() { vec![] } else { vec![v.to_string()] } });
            }
        }
        (KEPT_ENTITIES.contains(&name.as_str()) || self.letter_entity(i) == len).then(|| Match { len, toks: vec![self.text(i, j + 1)] })
    }

    /// `#tag`, `@handle`, `c#`.
    pub(super) fn m_tag(&self, i: usize) -> Option<Match> {
        let lead = self.at(i)?;
        let c = lead;
        if c == '#' || c == '@' {
            if (c == '#' && !self.letter_at(i + 1)) || (c == '@' && !self.is(i + 1, |c| c.is_ascii_alphabetic() || c == '_')) {
                return None;
            }
            let mut j = i + 1;
            let tag_char = |c: char| {
                if lead == '#' { is_letter(c) || class(c) == Class::Mark } else { is_word(c) || c == '_' || class(c) == Class::Mark }
            };
            loop {
                if self.is(j, tag_char) {
                    j += 1;
                } else if self.letter_entity(j) > 0 {
                    j += self.letter_entity(j);
                } else {
                    break;
                }
            }
            return (j > i + 1).then(|| Match { len: j - i, toks: vec![self.text(i, j)] });
        }
        if is_ascii_letter(c) && self.exact(i + 1, "++") {
            return one(3, self.text(i, i + 3));
        }
        if matches!(c, 'c' | 'C' | 'f' | 'F') && self.at(i + 1) == Some('#') {
            return one(2, self.text(i, i + 2));
        }
        None
    }

    /// `US$`, `HK$`.
    pub(super) fn m_currency(&self, i: usize) -> Option<Match> {
        let mut j = i;
        while self.is(j, |c| c.is_ascii_uppercase()) {
            j += 1;
        }
        (j > i && self.at(j) == Some('$')).then(|| Match { len: j + 1 - i, toks: vec![self.text(i, j + 1)] })
    }

    pub(super) fn m_amp(&self, i: usize) -> Option<Match> {
        let j = self.amp_end(i)?;
        let t = self.text(i, j);
        let mut out = String::new();
        let mut rest = t.as_str();
        while let Some(p) = rest.find('&') {
            out.push_str(&rest[..p]);
            out.push('&');
            rest = &rest[p + 1..];
            if rest.len() >= 4 && rest[..4].eq_ignore_ascii_case("amp;") {
                rest = &rest[4..];
            }
        }
        out.push_str(rest);
        one(j - i, out)
    }

    /// Capitals joined by `&` or `+`: `AT&T`, `Q&A`, `A+B`.
    /// `&apos;` (any case) at `j`: it does not join capitals (`IT&APOS;S`, but `A&LT;B`).
    fn named_entity(&self, j: usize) -> bool {
        self.lit(j, "&apos;")
    }

    pub(super) fn amp_end(&self, i: usize) -> Option<usize> {
        let caps = |mut j: usize| {
            let s = j;
            while self.is(j, |c| c.is_ascii_uppercase()) {
                j += 1;
            }
            (j > s).then_some(j)
        };
        let mut j = caps(i)?;
        let mut joined = false;
        loop {
            let k = if self.lit(j, "&amp;") {
                j + 5
            } else if self.at(j) == Some('+') || (self.at(j) == Some('&') && !self.named_entity(j)) {
                j + 1
            } else {
                break;
            };
            match caps(k) {
                Some(e) => {
                    j = e;
                    joined = true;
                }
                None => break,
            }
        }
        joined.then_some(j)
    }
}

//! The scanner: at each position every kind of token is tried and the longest match wins
//! (ties go to the kind tried first), as the jar's lexer behaves. Each kind is a small
//! hand-written matcher returning the length it would take and the tokens it yields; the
//! matchers are grouped by token kind in the submodules.

use std::cell::Cell;

mod abbrev;
mod clitics;
mod compound;
mod markup;
mod punct;

use super::chars::{Class, class, is_digit, is_letter, is_newline, is_space, is_word};
use super::words::{
    APOSTROPHE_LED, APOSTROPHE_WORDS, CAPITAL_ABBREVS, DOTTED_ENDERS, ENDERS, ENTITIES, FREE_SMILEYS, KEPT_ENTITIES, NUMBER_ABBREVS,
    SMILEYS, SPLIT_WORDS, STARTERS, TITLES,
};

/// One candidate: the characters it takes and the tokens it produces.
struct Match {
    len: usize,
    toks: Vec<String>,
}

fn one(len: usize, tok: impl Into<String>) -> Option<Match> {
    Some(Match { len, toks: vec![tok.into()] })
}

fn is_apos(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

fn is_ascii_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn is_vowel(c: char) -> bool {
    matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// Characters that may not appear inside a URL or an e-mail domain.
fn url_stop(c: char) -> bool {
    is_space(c) || matches!(c, '(' | ')' | '<' | '>' | '"' | '[' | ']' | '{' | '}' | '\u{a0}')
}

/// Replaces brackets inside a token by their PTB escapes.
fn escape_brackets(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '(' => out.push_str("-LRB-"),
            ')' => out.push_str("-RRB-"),
            _ => out.push(c),
        }
    }
    out
}

/// Curly and angle quotes (two in a row, or one beside a backtick, make one token).
fn curly(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2018}' | '\u{201b}' | '\u{2039}' | '\u{91}' => "`",
        '\u{2019}' | '\u{203a}' | '\u{92}' => "'",
        '\u{201c}' | '\u{ab}' | '\u{93}' => "``",
        '\u{201d}' | '\u{bb}' | '\u{94}' => "''",
        '\u{201e}' => "\u{201e}",
        '\u{201a}' => "\u{201a}",
        '\u{201f}' => "\u{201f}",
        _ => return None,
    })
}

fn is_superscript_digit(c: char) -> bool {
    matches!(c, '\u{b9}' | '\u{b2}' | '\u{b3}' | '\u{2070}' | '\u{2074}'..='\u{2079}' | '\u{2080}'..='\u{2089}')
}

/// What a character standing alone becomes (`None`: deleted).
fn symbol(c: char) -> Option<&'static str> {
    Some(match c {
        '(' => "-LRB-",
        ')' => "-RRB-",
        '[' => "-LSB-",
        ']' => "-RSB-",
        '{' => "-LCB-",
        '}' => "-RCB-",
        '\u{a2}' => "cents",
        '\u{a3}' => "#",
        '\u{a4}' | '\u{20ac}' | '\u{20a0}' | '\u{80}' => "$",
        '\u{bc}' => "1/4",
        '\u{bd}' => "1/2",
        '\u{be}' => "3/4",
        '\u{2153}' => "1/3",
        '\u{2154}' => "2/3",
        '\u{2026}' | '\u{85}' => "...",
        '\u{2013}' | '\u{2014}' | '\u{2015}' | '\u{96}' | '\u{97}' => "--",
        '\u{2018}' | '\u{201b}' | '\u{2039}' | '\u{91}' => "`",
        '\u{2019}' | '\u{203a}' | '\u{92}' => "'",
        '\u{201c}' | '\u{ab}' | '\u{93}' => "``",
        '\u{201d}' | '\u{bb}' | '\u{94}' => "''",
        '\u{58a}' | '\u{2010}' | '\u{2011}' | '\u{ad}' | '\u{66b}' | '\u{66c}' => return None,
        _ => return Some(""),
    })
}

/// Length of an accented-letter entity (`&eacute;`, `&Ouml;`) at `i`, else 0: these
/// behave as letters inside words.
fn letter_entity(s: &[char], i: usize) -> usize {
    let lit = |k: usize, l: &str| l.chars().enumerate().all(|(n, l)| s.get(k + n).is_some_and(|c| c.eq_ignore_ascii_case(&l)));
    if s.get(i) != Some(&'&') || !s.get(i + 1).is_some_and(|c| matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u')) {
        return 0;
    }
    ["acute;", "grave;", "uml;"].iter().find(|n| lit(i + 2, n)).map_or(0, |n| n.len() + 2)
}

fn is_local(c: char) -> bool {
    !is_space(c) && !is_newline(c) && c != '\u{a0}' && !"{|}\"()<>@".contains(c)
}

/// Characters of one dot-separated part of an e-mail domain.
fn is_domain(c: char) -> bool {
    (is_local(c) || c == '@') && c != '.'
}

pub struct Scanner<'a> {
    s: &'a [char],
    /// `local_end[i]`: end of the run of e-mail local-part characters from `i`.
    local_end: Vec<usize>,
    /// Memo of [`Scanner::comma_chain_end`] by comma position (`usize::MAX`: not yet known).
    chain_memo: Vec<Cell<usize>>,
    lines: Vec<Vec<String>>,
}

impl<'a> Scanner<'a> {
    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    fn is(&self, i: usize, f: impl Fn(char) -> bool) -> bool {
        self.at(i).is_some_and(f)
    }

    /// Case-insensitive ASCII match of `lit` at `i`.
    fn lit(&self, i: usize, lit: &str) -> bool {
        let mut j = i;
        for l in lit.chars() {
            match self.at(j) {
                Some(c) if c.eq_ignore_ascii_case(&l) => j += 1,
                _ => return false,
            }
        }
        true
    }

    /// Exact match of `lit` at `i`.
    fn exact(&self, i: usize, lit: &str) -> bool {
        lit.chars().enumerate().all(|(k, l)| self.at(i + k) == Some(l))
    }

    fn text(&self, i: usize, j: usize) -> String {
        self.s[i..j].iter().collect()
    }

    fn letter_entity(&self, i: usize) -> usize {
        letter_entity(self.s, i)
    }

    /// A letter, or an accented-letter entity, at `i`.
    fn letter_at(&self, i: usize) -> bool {
        self.is(i, is_letter) || self.letter_entity(i) > 0
    }

    /// End of the basic word starting at `i` (letters, digits, marks, inner soft hyphens,
    /// and accented-letter entities when the word starts with a letter or one of them).
    fn word_end(&self, i: usize) -> usize {
        let (mut j, entity) = self.word_end_untrimmed(i);
        // Leave `n't` to its own rule (not in words holding an entity or a digit).
        if !entity
            && !self.s[i..j].iter().any(|&c| is_digit(c))
            && j >= i + 2
            && self.is(j - 1, |c| c == 'n' || c == 'N')
            && self.is_nt(j - 1)
        {
            j -= 1;
        }
        j
    }

    /// [`Self::word_end`] before `n't` is split off, and whether the word holds an entity.
    fn word_end_untrimmed(&self, i: usize) -> (usize, bool) {
        let mut j = i;
        let mut digits_only = true;
        let mut entity = false;
        while let Some(c) = self.at(j) {
            if c == '&' && (j == i || is_letter(self.s[i])) {
                let n = self.letter_entity(j);
                if n > 0 {
                    j += n;
                    entity = true;
                    digits_only = false;
                    continue;
                }
            }
            match class(c) {
                Class::Word if c != '\u{ad}' => {
                    digits_only &= is_digit(c);
                    j += 1;
                }
                Class::Mark if j == i || !digits_only => {
                    digits_only = false;
                    j += 1;
                }
                _ if c == '\u{ad}' && j == i && self.is(j + 1, is_word) => j += 1,
                _ if c == '\u{ad}' && j > i && !(digits_only && self.is(j + 1, is_letter)) && (!digits_only || self.is(j + 1, is_word)) => {
                    j += 1
                }
                _ if j > i && matches!(c, '\u{2010}' | '\u{2011}' | '\u{58a}') && self.is(j + 1, is_word) => j += 1,
                _ => break,
            }
        }
        (j, entity)
    }

    /// End of a run of letters and digits without marks (the parts of compounds).
    fn plain_end(&self, i: usize) -> usize {
        let mut j = i;
        while self.is(j, |c| is_word(c) && c != '\u{ad}') || (j > i && self.at(j) == Some('\u{ad}') && self.is(j + 1, is_word)) {
            j += 1;
        }
        j
    }

    /// [`Self::plain_end`] when that run is ASCII (inner soft hyphens allowed), else
    /// [`Self::part_end`].
    fn ascii_part_end(&self, i: usize) -> usize {
        let e = self.plain_end(i);
        if self.s[i..e].iter().all(|c| c.is_ascii() || *c == '\u{ad}') { e } else { self.part_end(i) }
    }

    /// End of a run of letters and digits with no soft hyphen (a soft hyphen ends a part of
    /// a compound unless it is all ASCII and joined by `-`: `ﬁsh-tab\u{ad}bed` is `ﬁsh-tab`
    /// `bed`, `fish-tab\u{ad}bed` is `fish-tabbed`).
    fn part_end(&self, i: usize) -> usize {
        let mut j = i;
        while self.is(j, |c| is_word(c) && c != '\u{ad}') {
            j += 1;
        }
        j
    }

    /// `n't` (apostrophe forms ' ’ ‘ `).
    fn is_nt(&self, i: usize) -> bool {
        self.is(i, |c| c == 'n' || c == 'N')
            && self.is(i + 1, |c| matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`'))
            && self.is(i + 2, |c| c == 't' || c == 'T')
    }

    fn word_text(&self, i: usize, j: usize) -> String {
        self.s[i..j].iter().filter(|&&c| c != '\u{ad}').collect()
    }

    /// Apostrophe (or `&apos;`) at `i`: its length.
    fn apos_len(&self, i: usize) -> usize {
        if self.is(i, is_apos) {
            1
        } else if self.lit(i, "&apos;") {
            6
        } else {
            0
        }
    }

    fn best(&self, i: usize) -> Match {
        let cands = [
            self.m_sgml(i),
            self.m_url(i),
            self.m_email(i),
            self.m_smiley(i),
            self.m_entity(i),
            self.m_spaced_number(i),
            self.m_abbrev(i),
            self.m_apostrophe_led(i),
            self.m_nt(i),
            self.m_apostrophe_word(i),
            self.m_compound(i),
            self.m_amp(i),
            self.m_currency(i),
            self.m_tag(i),
            self.m_dotted(i),
            self.m_number(i),
            self.m_bang_word(i),
            self.m_word(i),
            self.m_quote(i),
            self.m_punct(i),
        ];
        let mut best: Option<Match> = None;
        for m in cands.into_iter().flatten() {
            if m.len > 0 && best.as_ref().is_none_or(|b| m.len > b.len) {
                best = Some(m);
            }
        }
        // A word keeps a following period before `,`, `;` or `:` (`x5.,` -> `x5.` `,`).
        if let Some(m) = best.as_mut().filter(|m| {
            m.toks.len() == 1
                && m.toks[0].starts_with(|c: char| c.is_alphanumeric())
                && m.toks[0].ends_with(|c: char| c.is_alphanumeric())
                && !m.toks[0].contains(['/', ',', '.'])
                && !(m.toks[0].contains('&') && m.toks[0].contains('-'))
                && !APOSTROPHE_WORDS.contains(&m.toks[0].to_lowercase().as_str())
                && !m.toks[0].to_lowercase().ends_with("n't")
        }) {
            let e = i + m.len;
            if self.at(e) == Some('.') && self.is(e + 1, |c| matches!(c, ',' | ';' | ':')) {
                m.len += 1;
                m.toks[0].push('.');
            }
        }
        best.unwrap_or_else(|| {
            let c = self.s[i];
            if is_superscript_digit(c) || c == '\u{ad}' {
                let mut j = i;
                while self.is(j, |d| if c == '\u{ad}' { d == c } else { is_superscript_digit(d) }) {
                    j += 1;
                }
                let t = if c == '\u{ad}' { "-".to_string() } else { self.text(i, j) };
                return Match { len: j - i, toks: vec![t] };
            }
            let toks = match symbol(c) {
                None => vec![],
                Some("") => vec![c.to_string()],
                Some(t) => vec![t.to_string()],
            };
            Match { len: 1, toks }
        })
    }

    fn run(mut self) -> Vec<Vec<String>> {
        let mut i = 0;
        self.lines.push(vec![]);
        while let Some(c) = self.at(i) {
            if is_newline(c) {
                i += if c == '\r' && self.at(i + 1) == Some('\n') { 2 } else { 1 };
                self.lines.push(vec![]);
                continue;
            }
            if c == ' ' || c == '\t' || class(c) == Class::Drop && !self.is(i, |c| c == '\u{85}' || c == '\u{80}') {
                // Drop-class characters only survive inside URLs and e-mail addresses,
                // which start with a word character.
                i += 1;
                continue;
            }
            let m = self.best(i);
            i += m.len.max(1);
            if let Some(line) = self.lines.last_mut() {
                line.extend(m.toks.into_iter().filter(|t| !t.is_empty()));
            }
        }
        self.lines
    }
}

/// Tokenises a whole file (captions joined by `\n`) into its output lines.
pub fn scan(text: &[char]) -> Vec<Vec<String>> {
    let mut local_end = vec![text.len(); text.len() + 1];
    for i in (0..text.len()).rev() {
        local_end[i] = if is_local(text[i]) { local_end[i + 1] } else { i };
    }
    let chain_memo = vec![Cell::new(usize::MAX); text.len() + 1];
    Scanner { s: text, local_end, chain_memo, lines: Vec::new() }.run()
}

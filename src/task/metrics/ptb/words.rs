//! Word lists measured on the jar (each entry was tried in the contexts `x W. The`,
//! `x W. the`, `x W.` + next line, and at the end of the file).

/// Abbreviations that keep their period and never add a sentence-final `.` (titles, street
/// and rank words): `Mr. Smith`, `Dr.` at a line end.
pub const TITLES: &[&str] = &[
    "adm", "ave", "brig", "capt", "cf", "cie", "cmdr", "col", "cpl", "dept", "det", "dr", "ft", "gen", "gov", "hon", "insp", "jos", "lt",
    "maj", "messrs", "mfg", "mlle", "mme", "mr", "mrs", "ms", "mt", "natl", "ph", "prof", "pvt", "rep", "rev", "sen", "sgt", "st", "ste",
    "supt", "vs", "wm",
];

/// Abbreviations that keep their period and may end a sentence: followed by a capitalised
/// word, a blank line or the end of the file they add a `.` token (`etc. .`).
pub const ENDERS: &[&str] = &[
    "al", "ala", "apr", "ariz", "aug", "bldg", "blvd", "bros", "calif", "co", "colo", "conn", "corp", "cos", "ct", "dec", "esq", "est",
    "etc", "feb", "fla", "fri", "ga", "inc", "ind", "intl", "jan", "jr", "jul", "jun", "kan", "ky", "ltd", "mar", "md", "mich", "minn",
    "mo", "mon", "mont", "neb", "nev", "nov", "oct", "okla", "pty", "rd", "sep", "sept", "seq", "sq", "sr", "tel", "tenn", "thu", "thurs",
    "tue", "tues", "univ", "va", "vt", "wed", "wis", "wyo",
];

/// Dotted abbreviations that behave as [`ENDERS`] (other letter-dot sequences behave as
/// acronyms: a `.` is added only before a capitalised word).
pub const DOTTED_ENDERS: &[&str] = &["ph.d"];

/// Words with an inner apostrophe that stay whole (`o'clock`, `ma'am`, `ne'er`, ...) beyond
/// the general pattern in the scanner.
pub const APOSTROPHE_WORDS: &[&str] = &[
    "li'l",
    "l'il",
    "nat'l",
    "nor'easter",
    "s'mores",
    "cap'n",
    "c'mon",
    "c'est",
    "n'roll",
    "e'er",
    "somethin'",
    "dunkin'",
    "ol'",
    "cont'd.",
];

/// Words after which an acronym (`U.S.`) adds a sentence-final `.` and a single letter
/// (`I.`) gives up its period.
pub const STARTERS: &[&str] =
    &["the", "a", "an", "he", "she", "it", "in", "we", "you", "they", "this", "there", "but", "if", "as", "at", "about", "mr.", "some"];

/// Abbreviations that keep their period before a number or a colon (`figs. 5`, `no.:`).
pub const NUMBER_ABBREVS: &[&str] = &["no", "fig", "figs", "art", "ca", "pp"];

/// Capitalised abbreviations (state names) that keep their period; lower-case they do not.
pub const CAPITAL_ABBREVS: &[&str] = &["Mass", "Pa", "Ill", "La", "Miss", "Ore", "Tex", "Wash", "Del", "Ark"];

/// Tokens starting with an apostrophe that stay whole.
pub const APOSTROPHE_LED: &[&str] = &["'em", "'cause", "'til", "'till", "'n"];

/// Words split in two: (word, length of the first part).
pub const SPLIT_WORDS: &[(&str, usize)] =
    &[("cannot", 3), ("gonna", 3), ("gotta", 3), ("wanna", 3), ("lemme", 3), ("gimme", 3), ("'tis", 2), ("'twas", 2)];

/// Smileys beyond the `:-)` family (generated in the scanner) that need a following
/// character that is not an ASCII letter or digit.
pub const SMILEYS: &[&str] =
    &["xD", "xP", "xp", "xO", "x3", "xS", "xs", "XD", "XP", "Xp", "XO", "X3", "XS", "Xs", "8D", "8P", "8p", "8O", "83", "8S", "8s"];

/// Smileys that need no context.
pub const FREE_SMILEYS: &[&str] = &["(^_^)", "^_^", "o_O", "O_o", "o_o", "-_-", "T_T", ">_<", "~_<", "~_~", "-_<", ":3"];

/// Character entities and what they become.
pub const ENTITIES: &[(&str, &str)] =
    &[("amp", "&"), ("lt", "<"), ("gt", ">"), ("quot", "\""), ("apos", "'"), ("mdash", "--"), ("ndash", "--"), ("md", "--"), ("nbsp", "")];

/// Entities kept as written, as a token of their own (besides the accented letters
/// `&eacute;` and the like, which join words); other `&name;` split into `&`, `name`, `;`.
pub const KEPT_ENTITIES: &[&str] = &["ht", "lr", "qc", "ql", "qr", "tl", "ur", "cdq", "odq"];

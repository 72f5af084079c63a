//! The crate's shape, checked from its sources: no import cycle between modules, and no
//! source file far over 400 lines without a stated reason.
//!
//! Every `crate::a::b` and `super::` path in a file is resolved to the module it names (a name
//! re-exported by a `mod.rs`, such as `crate::hf::Weights`, to the module defining it), giving
//! an edge from the file's module. Edges to a module's own ancestors are left out: a child
//! using what its parent declares is how Rust modules nest, not a cycle between files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/hf/weights.rs` -> `hf::weights`; `src/hf/mod.rs` -> `hf`; `src/lib.rs` -> ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts.join("::")
}

/// The paths after `crate::` / `super::` in `text`, comments dropped, `use` groups expanded.
fn paths(text: &str) -> Vec<(bool, Vec<String>)> {
    let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = Vec::new();
    for (anchor, is_super) in [("crate::", false), ("super::", true)] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(anchor) {
            let before = rest[..i].chars().last();
            rest = &rest[i + anchor.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // `glimpse::crate::` never occurs; `self::super::` is not resolved
            }
            for p in expand(rest) {
                out.push((is_super, p));
            }
        }
    }
    out
}

/// `a::b::{c, d::e}` -> [[a, b, c], [a, b, d, e]]; a plain path -> itself.
fn expand(s: &str) -> Vec<Vec<String>> {
    let mut head = Vec::new();
    let mut word = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else if c == ':' && s[i..].starts_with("::") {
            chars.next();
            head.push(std::mem::take(&mut word));
            if s[i + 2..].starts_with('{') {
                let body = &s[i + 3..];
                let mut depth = 1;
                let end = body
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(body.len(), |(j, _)| j);
                let mut items = Vec::new();
                let (mut d, mut start) = (0, 0);
                for (j, c) in body[..end].char_indices() {
                    match c {
                        '{' => d += 1,
                        '}' => d -= 1,
                        ',' if d == 0 => {
                            items.push(&body[start..j]);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                items.push(&body[start..end]);
                return items
                    .into_iter()
                    .map(str::trim)
                    .filter(|t| !t.is_empty() && *t != "self")
                    .flat_map(expand)
                    .map(|tail| head.iter().cloned().chain(tail).collect())
                    .chain(std::iter::once(head.clone()))
                    .collect();
            }
        } else {
            break;
        }
    }
    if !word.is_empty() {
        head.push(word);
    }
    vec![head]
}

#[test]
fn no_import_cycle_between_modules() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files.iter().map(|f| (module_of(&src, f), f.clone())).collect();
    // Names a mod.rs re-exports from a child: `pub use child::{A, B}`.
    let mut reexports: BTreeMap<(String, String), String> = BTreeMap::new();
    for (m, f) in &modules {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines().filter(|l| l.trim_start().starts_with("pub use ") && !l.contains("crate::") && !l.contains("super::")) {
            for p in expand(line.trim_start().trim_start_matches("pub use ").trim_end_matches(';')) {
                if p.len() >= 2 {
                    let child = if m.is_empty() { p[0].clone() } else { format!("{m}::{}", p[0]) };
                    reexports.insert((m.clone(), p.last().unwrap().clone()), child);
                }
            }
        }
    }
    let resolve = |segments: &[String]| -> Option<String> {
        let mut best = None;
        for n in (1..=segments.len()).rev() {
            let m = segments[..n].join("::");
            if modules.contains_key(&m) {
                best = Some(match segments.get(n) {
                    Some(name) => reexports.get(&(m.clone(), name.clone())).cloned().unwrap_or(m),
                    None => m,
                });
                break;
            }
        }
        best
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, f) in &modules {
        let text = std::fs::read_to_string(f).unwrap();
        for (is_super, p) in paths(&text) {
            let full: Vec<String> = if is_super {
                let mut parent: Vec<String> = m.split("::").map(String::from).collect();
                parent.pop();
                parent.into_iter().chain(p).collect()
            } else {
                p
            };
            let Some(to) = resolve(&full) else { continue };
            let ancestor = to.is_empty() || m == &to || m.starts_with(&format!("{to}::"));
            if !ancestor {
                edges.entry(m.clone()).or_default().insert(to);
            }
        }
    }
    // Tarjan's strongly connected components; any with two or more modules is a cycle.
    let names: Vec<&String> = modules.keys().collect();
    let index_of: BTreeMap<&String, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let adj: Vec<Vec<usize>> =
        names.iter().map(|n| edges.get(*n).map_or(vec![], |s| s.iter().filter_map(|t| index_of.get(t).copied()).collect())).collect();
    struct T<'a> {
        adj: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        sccs: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in &t.adj[v].clone() {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(i) if t.on[w] => t.low[v] = t.low[v].min(i),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                scc.push(w);
                if w == v {
                    break;
                }
            }
            t.sccs.push(scc);
        }
    }
    let n = names.len();
    let mut t = T { adj: &adj, index: vec![None; n], low: vec![0; n], on: vec![false; n], stack: vec![], next: 0, sccs: vec![] };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    let cycles: Vec<Vec<&String>> = t.sccs.iter().filter(|s| s.len() > 1).map(|s| s.iter().map(|&i| names[i]).collect()).collect();
    assert!(edges.values().map(BTreeSet::len).sum::<usize>() > 100, "the scan found the crate's imports");
    assert!(cycles.is_empty(), "import cycles between modules: {cycles:?}");
}

/// Files allowed past ~400 lines, and why.
const LONG_FILES: [(&str, &str); 4] = [
    ("image/jpeg/decoder.rs", "one baseline + progressive JPEG decoder state machine, in the order of ITU T.81"),
    ("image/jpeg/huffman.rs", "Huffman tables and the bit reader they decode from"),
    ("hf/pickle.rs", "the pickle virtual machine: one dispatch over the opcodes a state dict uses, and its limits"),
    ("hf/clip_config.rs", "CLIP's text and vision configs, field by field, with their legacy spellings"),
];

#[test]
fn no_source_file_far_over_400_lines_without_a_reason() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut long = Vec::new();
    for f in files {
        let n = std::fs::read_to_string(&f).unwrap().lines().count();
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        if n > 440 && !LONG_FILES.iter().any(|(p, _)| *p == rel) {
            long.push(format!("{rel}: {n} lines"));
        }
    }
    assert!(long.is_empty(), "split these files, or say in LONG_FILES why they are long: {long:?}");
}

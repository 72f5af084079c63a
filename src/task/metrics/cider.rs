//! CIDEr-D as pycocoevalcap's `Cider(n=4, sigma=6.0)` computes it: TF-IDF n-gram vectors
//! (n = 1..4) with document frequencies over the whole reference set, clipped similarity,
//! a Gaussian penalty on the length difference, averaged over n and references, times 10.
//! One image alone cannot be scored: the IDF needs the reference set.

use std::collections::HashMap;

use super::ptb::tokenize_corpus;

const N: usize = 4;
const SIGMA: f64 = 6.0;

type Ngram = Vec<String>;

fn counts(tokens: &[String]) -> HashMap<Ngram, f64> {
    // pycocoevalcap's `precook` splits the joined string on any whitespace, so tokens that
    // keep an inner U+00A0 (`1 1/2`) count as two words.
    let words: Vec<String> = tokens.iter().flat_map(|t| t.split_whitespace()).map(String::from).collect();
    let mut c = HashMap::new();
    for k in 1..=N {
        for w in words.windows(k) {
            *c.entry(w.to_vec()).or_insert(0.0) += 1.0;
        }
    }
    c
}

struct Vector {
    vec: [HashMap<Ngram, f64>; N],
    norm: [f64; N],
    /// pycocoevalcap's "length": the count of bigrams (it counts n == 1 entries).
    length: f64,
}

/// Per-image and corpus CIDEr-D.
#[derive(Debug, Clone, PartialEq)]
pub struct Cider {
    /// Corpus score: the mean over images.
    pub score: f64,
    /// One score per image, in input order.
    pub per_image: Vec<f64>,
}

/// CIDEr-D of `candidates[i]` against `references[i]` (raw captions; tokenised here as
/// COCOEvalCap does: all references, image by image, in one tokenizer call, all candidates in
/// another, so that the few rules that look past a caption's end see the same neighbours).
pub fn cider_d(candidates: &[String], references: &[Vec<String>]) -> Cider {
    assert_eq!(candidates.len(), references.len(), "one reference set per candidate");
    if candidates.is_empty() {
        return Cider { score: 0.0, per_image: vec![] };
    }
    let cand_strs: Vec<&str> = candidates.iter().map(String::as_str).collect();
    let cands: Vec<HashMap<Ngram, f64>> = tokenize_corpus(&cand_strs).iter().map(|c| counts(c)).collect();
    let ref_strs: Vec<&str> = references.iter().flatten().map(String::as_str).collect();
    let mut ref_toks = tokenize_corpus(&ref_strs).into_iter();
    let refs: Vec<Vec<HashMap<Ngram, f64>>> =
        references.iter().map(|rs| rs.iter().map(|_| counts(&ref_toks.next().unwrap_or_default())).collect()).collect();
    let mut df: HashMap<&Ngram, f64> = HashMap::new();
    for rs in &refs {
        let mut seen: std::collections::HashSet<&Ngram> = std::collections::HashSet::new();
        for r in rs {
            seen.extend(r.keys());
        }
        for g in seen {
            *df.entry(g).or_insert(0.0) += 1.0;
        }
    }
    let ref_len = (refs.len() as f64).ln();
    let to_vec = |c: &HashMap<Ngram, f64>| {
        let mut v = Vector { vec: Default::default(), norm: [0.0; N], length: 0.0 };
        for (g, &tf) in c {
            let d = df.get(g).copied().unwrap_or(0.0).max(1.0).ln();
            let n = g.len() - 1;
            let x = tf * (ref_len - d);
            v.vec[n].insert(g.clone(), x);
            v.norm[n] += x * x;
            if n == 1 {
                v.length += tf;
            }
        }
        v.norm.iter_mut().for_each(|x| *x = x.sqrt());
        v
    };
    let per_image: Vec<f64> = cands
        .iter()
        .zip(&refs)
        .map(|(c, rs)| {
            let h = to_vec(c);
            let mut score = [0.0f64; N];
            for r in rs {
                let r = to_vec(r);
                let delta = h.length - r.length;
                for n in 0..N {
                    let mut val: f64 = h.vec[n]
                        .iter()
                        .map(|(g, &x)| {
                            let y = r.vec[n].get(g).copied().unwrap_or(0.0);
                            x.min(y) * y
                        })
                        .sum();
                    if h.norm[n] != 0.0 && r.norm[n] != 0.0 {
                        val /= h.norm[n] * r.norm[n];
                    }
                    score[n] += val * (-(delta * delta) / (2.0 * SIGMA * SIGMA)).exp();
                }
            }
            score.iter().sum::<f64>() / N as f64 / rs.len().max(1) as f64 * 10.0
        })
        .collect();
    Cider { score: per_image.iter().sum::<f64>() / per_image.len() as f64, per_image }
}

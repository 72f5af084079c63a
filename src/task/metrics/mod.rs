//! Caption metrics: CIDEr-D exactly as pycocoevalcap computes it (with its PTB tokenisation
//! rules) and CLIPScore (Hessel et al. 2021).

pub mod cider;
pub mod clipscore;
pub mod ptb;

pub use cider::{Cider, cider_d};
pub use clipscore::{CLIPSCORE_PREFIX, clip_score, clip_scores};

//! The models: one implementation for every backend and target.

pub mod attention;
pub mod clip;
pub mod nn;

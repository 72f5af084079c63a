//! The `glimpse` command line (feature `native`): one file per command, all on the library.

pub mod caption;
pub mod classify;
pub mod common;
pub mod embed;
pub mod eval;
pub mod fewshot;
pub mod params;
pub mod score;
pub mod train;

use clap::{Parser, Subcommand};

use crate::error::Result;

/// CLIP zero-shot classification and captioning, natively (see README.md).
#[derive(Parser, Debug)]
#[command(name = "glimpse", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print projected, L2-normalised CLIP embeddings of images and texts as JSON.
    Embed(embed::EmbedArgs),
    /// Zero-shot classify images against labels and prompt templates; JSON on stdout.
    Classify(classify::ClassifyArgs),
    /// Fit few-shot classifiers (Tip-Adapter, linear probe) on k labelled images per class.
    Fewshot(fewshot::FewshotArgs),
    /// Caption images with a CLIP encoder, a GPT-2 decoder and a PEFT checkpoint.
    Caption(caption::CaptionArgs),
    /// Parameter counts (total, trainable) of the full-size captioner for each PEFT method.
    Params(params::ParamsArgs),
    /// CIDEr-D and CLIPScore of a DLCV prediction file.
    Eval(eval::EvalArgs),
    /// CLIPScore of one image and one caption.
    Score(score::ScoreArgs),
    /// Fine-tune the captioner (reads ./train.toml when present).
    Train(train::TrainArgs),
}

/// Parses the command line and runs it.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Embed(a) => embed::run(a),
        Command::Classify(a) => classify::run(a),
        Command::Fewshot(a) => fewshot::run(a),
        Command::Caption(a) => caption::run(a),
        Command::Params(a) => params::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Score(a) => score::run(a),
        Command::Train(a) => train::run(a),
    }
}

//! The page's bundled demo captioner (www/demo, made by www/demo/make_demo.py): its captions are
//! the ones the browser suite expects (captions.json), and its attention maps make sense for its
//! photos: the word that needs the square's pixels, its colour, looks at the square's patch.
//! (The side words' maps are counted, not required: the decoder has read where the square is
//! while naming its colour, and make_demo.py says how often they find it.)

use std::path::{Path, PathBuf};

use glimpse::task::heatmap::token_map;
use glimpse::task::zeroshot::argmax;
use serde_json::Value;

use crate::cli::glimpse;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/demo")
}

/// The grid cell (row-major index) whose pixels are farthest from the grey field: the square's.
fn square_cell(photo: &Path, grid: [usize; 2]) -> usize {
    let img = image::open(photo).unwrap().to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut far = vec![0f64; grid[0] * grid[1]];
    for (x, y, p) in img.enumerate_pixels() {
        let cell = (y as usize * grid[0] / h) * grid[1] + x as usize * grid[1] / w;
        far[cell] += p.0.iter().map(|&c| (c as f64 - 128.0).abs()).sum::<f64>();
    }
    (0..far.len()).max_by(|&a, &b| far[a].total_cmp(&far[b])).unwrap()
}

#[test]
fn demo_captions_and_maps_make_sense() {
    let dir = demo();
    let names: Vec<String> = serde_json::from_str(&std::fs::read_to_string(dir.join("images/index.json")).unwrap()).unwrap();
    let tmp = crate::common::tempdir();
    let details = tmp.path().join("details.json");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let mut args: Vec<String> = ["caption", "--backend", "cpu", "--encoder"].map(String::from).to_vec();
    args.extend([s(&dir.join("encoder")), "--decoder".into(), s(&dir.join("decoder")), "--peft".into(), s(&dir.join("peft"))]);
    args.extend(["--details".into(), s(&details)]);
    args.extend(names.iter().map(|n| s(&dir.join("images").join(n))));
    let (code, out, err) = glimpse(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    let captions: Value = serde_json::from_str(&out).unwrap();
    let want: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("captions.json")).unwrap()).unwrap();
    assert_eq!(captions, want, "the demo's captions are those the browser suite expects (captions.json)");

    let details: Value = serde_json::from_str(&std::fs::read_to_string(&details).unwrap()).unwrap();
    let mut misses = Vec::new();
    let (mut colours, mut sides, mut side_hits) = (0, 0, 0);
    for name in &names {
        let stem = name.trim_end_matches(".png");
        let (colour, side) = (stem.split('_').next().unwrap(), stem.rsplit('_').next().unwrap());
        let d = &details[stem];
        let grid: [usize; 2] = serde_json::from_value(d["grid"].clone()).unwrap();
        let square = square_cell(&dir.join("images").join(name), grid);
        let words: Vec<String> = serde_json::from_value(d["words"].clone()).unwrap();
        let maps: Vec<Vec<Vec<f32>>> = serde_json::from_value(d["attention"].clone()).unwrap();
        for (word, layers) in words.iter().zip(&maps) {
            if word.trim() != colour && word.trim() != side {
                continue;
            }
            // The map the page and the figures show: the mean over layers, CLS dropped.
            let map = token_map(layers, grid[0] * grid[1], None);
            let peak = argmax(&map);
            if word.trim() == side {
                sides += 1;
                side_hits += usize::from(peak == square);
                continue;
            }
            colours += 1;
            if peak != square {
                misses.push(format!("{stem}: '{}' peaks at cell {peak}, the square is at {square} (map {map:.2?})", word.trim()));
            }
        }
    }
    assert_eq!((colours, sides), (names.len(), names.len()), "every caption names its colour and its side once");
    eprintln!("demo maps: colour words on the square {}/{colours}, side words {side_hits}/{sides}", colours - misses.len());
    assert!(misses.is_empty(), "colour words whose maps miss the square:\n{}", misses.join("\n"));
}

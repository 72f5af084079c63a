//! The in-tree fuzz harness over [`glimpse::fuzz::TARGETS`]: seed corpora from the fixtures
//! (real torch.save and safetensors files, configs, tokenizers, the image corpus, caption
//! files), then deterministic mutations of them (byte and bit havoc, interesting integers at
//! every width, block moves, splices between seeds, and number swaps inside JSON). Every input
//! must come back from its target: a panic fails the test and leaves the input in
//! `target/fuzz-crashes/` to replay.
//!
//! Each `cargo test` runs every target for a few seconds; `GLIMPSE_FUZZ_SECS=600` (what
//! `./build.sh fuzz` sets) runs each that long, and `GLIMPSE_FUZZ_TARGET` picks one.
//! `GLIMPSE_FUZZ_SEED` changes the mutation sequence (the default is fixed, so a failure in CI
//! replays exactly). Inputs that once crashed a target live in `tests/fixtures/fuzz_regressions/`
//! as `<target>-<anything>` and are replayed by every run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::fixtures;

/// splitmix64: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// Values at the edges of every integer width (as little-endian bytes when written).
const INTERESTING: [u64; 16] = [
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0xFFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 7,
    1 << 40,
];

/// Numbers written into JSON in place of another number.
const JSON_NUMBERS: [&str; 14] =
    ["0", "-1", "1", "1e9", "1000000000", "1e30", "-1e30", "4294967296", "18446744073709551615", "1.5", "null", "\"7\"", "[]", "{}"];

/// One mutation of `input` (`seeds` for splices).
fn mutate(input: &[u8], seeds: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut d = input.to_vec();
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        let len = d.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = rng.next() as u8;
            }
            2 | 3 if len > 0 => {
                let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                let w = [1, 2, 4, 8][rng.below(4)];
                let i = rng.below(len);
                for (k, b) in v.iter().take(w).enumerate() {
                    if let Some(x) = d.get_mut(i + k) {
                        *x = *b;
                    }
                }
            }
            4 if len > 1 => {
                let a = rng.below(len);
                let n = 1 + rng.below((len - a).min(256));
                d.drain(a..a + n);
            }
            5 if len > 1 => {
                let a = rng.below(len);
                let n = 1 + rng.below((len - a).min(256));
                let block = d[a..a + n].to_vec();
                let at = rng.below(len);
                d.splice(at..at, block);
            }
            6 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                d.splice(at..at, bytes);
            }
            7 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - a).min(4096));
                    let at = rng.below(len + 1);
                    d.truncate(at);
                    d.extend_from_slice(&other[a..a + n]);
                }
            }
            8 if len > 0 => {
                d.truncate(rng.below(len));
            }
            _ => swap_json_number(&mut d, rng),
        }
    }
    d
}

/// Replaces one number in a JSON text (if any, near a random place) by an interesting value.
fn swap_json_number(d: &mut Vec<u8>, rng: &mut Rng) {
    if d.is_empty() {
        return;
    }
    let from = rng.below(d.len());
    let Some(start) = (from..d.len()).chain(0..from).find(|&i| d[i].is_ascii_digit() && (i == 0 || !d[i - 1].is_ascii_alphanumeric()))
    else {
        return;
    };
    let end = (start..d.len()).find(|&i| !(d[i].is_ascii_digit() || b".eE+-".contains(&d[i]))).unwrap_or(d.len());
    let v = JSON_NUMBERS[rng.below(JSON_NUMBERS.len())];
    d.splice(start..end, v.bytes());
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The member `name` (suffix) of a stored zip, found by its local header.
fn zip_member(zip: &[u8], suffix: &[u8]) -> Vec<u8> {
    let at = zip.windows(suffix.len()).position(|w| w == suffix).expect("member");
    let header = zip[..at].windows(4).rposition(|w| w == b"PK\x03\x04").expect("local header");
    let le16 = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]) as usize;
    let size = u32::from_le_bytes(zip[header + 18..header + 22].try_into().unwrap()) as usize;
    let start = header + 30 + le16(header + 26) + le16(header + 28);
    zip[start..start + size].to_vec()
}

/// A small safetensors file of a few tensors in different dtypes.
fn small_safetensors() -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let a: Vec<u8> = (0..24).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let b: Vec<u8> = (0..8).flat_map(|i| half::f16::from_f32(i as f32).to_bits().to_le_bytes()).collect();
    let c: Vec<u8> = (0..4).flat_map(|i| (i as i64).to_le_bytes()).collect();
    let views = vec![
        ("w.weight", TensorView::new(Dtype::F32, vec![4, 6], &a).unwrap()),
        ("w.bias", TensorView::new(Dtype::F16, vec![8], &b).unwrap()),
        ("ids", TensorView::new(Dtype::I64, vec![2, 2], &c).unwrap()),
    ];
    safetensors::serialize(views, None).unwrap()
}

/// A small tokenizer.json in HF's layout: byte-level BPE, a template post-processor and a
/// byte-level decoder (the sections users' files get wrong).
const SMALL_TOKENIZER: &str = r#"{"version":"1.0","truncation":null,"padding":null,
"added_tokens":[{"id":5,"content":"<|endoftext|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
"normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<|endoftext|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
"pair":[{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
"special_tokens":{"<|endoftext|>":{"id":"<|endoftext|>","ids":[5],"tokens":["<|endoftext|>"]}}},
"decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"","fuse_unk":false,"byte_fallback":false,
"vocab":{"a":0,"b":1,"c":2,"ab":3,"Ġ":4,"<|endoftext|>":5},"merges":["a b"]}}"#;

/// The seed corpus of a target.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let f = fixtures();
    let bin = read(f.join("ved_vit_bin/pytorch_model.bin"));
    match target {
        "safetensors" => {
            vec![small_safetensors(), read(f.join("peft_b/adapter_model.safetensors")), read(f.join("lora_peft/adapter_model.safetensors"))]
        }
        "torch_zip" => vec![read(f.join("evil_pickle/pytorch_model.bin")), crate::hostile::small_torch_file()],
        "pickle" => vec![zip_member(&bin, b"data.pkl"), zip_member(&read(f.join("evil_pickle/pytorch_model.bin")), b"data.pkl")],
        "config" => [
            "clip_a/config.json",
            "ved_vit/config.json",
            "ved_clip/config.json",
            "gpt2_xattn/config.json",
            "gpt2_plain/config.json",
            "peft_b/adapter_config.json",
            "lora_peft/adapter_config.json",
            "ved_vit/generation_config.json",
            "clip_a_sharded/model.safetensors.index.json",
            "ved_vit_sharded_bin/pytorch_model.bin.index.json",
        ]
        .iter()
        .map(|p| read(f.join(p)))
        .collect(),
        "preprocessor" => ["clip_a/preprocessor_config.json", "ved_vit/preprocessor_config.json", "ved_clip/preprocessor_config.json"]
            .iter()
            .map(|p| read(f.join(p)))
            .collect(),
        "tokenizer" => vec![SMALL_TOKENIZER.as_bytes().to_vec()],
        "image" => {
            let dirs = std::fs::read_dir(f.join("image_corpus")).unwrap().filter_map(|e| e.ok().map(|e| e.path()));
            let mut files: Vec<PathBuf> = dirs
                .filter(|d| d.is_dir())
                .flat_map(|d| std::fs::read_dir(d).unwrap().filter_map(|e| e.ok().map(|e| e.path())))
                .filter(|p| p.is_file() && p.metadata().is_ok_and(|m| m.len() < 8 << 10))
                .collect();
            files.sort();
            files.into_iter().map(read).collect()
        }
        "captions" => {
            let ann = read(f.join("cider/annotations.json"));
            vec![ann[..ann.len().min(2000)].to_vec(), read(f.join("cider/pred.json"))]
        }
        "head" => crate::fewshot::head_seeds(),
        other => panic!("no seeds for target {other}"),
    }
}

/// Where a crashing input is kept.
fn crash_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes")
}

/// Runs `target` on its seeds, then on mutations until `budget` is spent. Returns
/// (executions, slowest input's time).
fn run(name: &str, target: fn(&[u8]), budget: Duration, seed: u64) -> (u64, Duration) {
    let corpus = seeds(name);
    let mut rng = Rng(seed ^ name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)));
    let started = Instant::now();
    let (mut execs, mut slowest) = (0u64, Duration::ZERO);
    let mut i = 0usize;
    while i < corpus.len() || started.elapsed() < budget {
        let input = match corpus.get(i) {
            Some(s) => s.clone(),
            None => mutate(&corpus[rng.below(corpus.len())], &corpus, &mut rng),
        };
        i += 1;
        let t = Instant::now();
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            std::fs::create_dir_all(crash_dir()).unwrap();
            let file = crash_dir().join(format!("{name}-{execs}.bin"));
            std::fs::write(&file, &input).unwrap();
            panic!("fuzz target `{name}` panicked on input {} (kept at {})", execs, file.display());
        }
        slowest = slowest.max(t.elapsed());
        execs += 1;
    }
    (execs, slowest)
}

#[test]
fn fuzz_targets_return_on_seeds_and_mutations() {
    let secs: f64 = std::env::var("GLIMPSE_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(6.0);
    let only = std::env::var("GLIMPSE_FUZZ_TARGET").ok();
    let seed: u64 = std::env::var("GLIMPSE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED);
    for (name, target) in glimpse::fuzz::TARGETS {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let (execs, slowest) = run(name, target, Duration::from_secs_f64(secs), seed);
        eprintln!("fuzz {name}: {execs} executions in {secs} s, slowest input {:.1} ms", slowest.as_secs_f64() * 1e3);
        // A hang shows as a slow input: none may take seconds.
        assert!(slowest < Duration::from_secs(20), "fuzz target `{name}`: an input took {slowest:?}");
    }
}

/// With `GLIMPSE_FUZZ_EXPORT=DIR`, writes each target's seeds to `DIR/<target>/` (the starting
/// corpus of `./build.sh fuzz`).
#[test]
fn export_seed_corpora() {
    let Some(dir) = std::env::var_os("GLIMPSE_FUZZ_EXPORT").map(PathBuf::from) else { return };
    for (name, _) in glimpse::fuzz::TARGETS {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (i, s) in seeds(name).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), s).unwrap();
        }
    }
}

/// Replays every kept crash (after a fix, each must pass; keep the file as a regression seed).
#[test]
fn kept_crashes_replay_cleanly() {
    let Ok(entries) = std::fs::read_dir(fixtures().join("fuzz_regressions")) else { return };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        let name = file.split('-').next().unwrap_or_default();
        let (_, target) = glimpse::fuzz::TARGETS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{file}: no target `{name}`"));
        target(&read(e.path()));
    }
}

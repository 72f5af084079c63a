//! Hostile checkpoints: files crafted (here, from a few hundred bytes, or sparse) to crash the
//! readers or exhaust memory. Each is refused with a message naming the file and what is wrong,
//! by the CLI running under a 3 GB address-space limit (an allocation past it would abort the
//! process, which these tests report as a failure), so memory stays bounded too.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// Address space the CLI gets in these tests (the tiny models need a few hundred MB).
const LIMIT_KB: u64 = 3 << 20;

/// Runs the CLI under [`LIMIT_KB`]; asserts a clean failure whose message has every needle.
#[track_caller]
fn refused(args: &[&str], needles: &[&str]) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -v {LIMIT_KB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_glimpse"))
        .args(args)
        .output()
        .expect("run glimpse");
    let (code, err) = (out.status.code(), String::from_utf8_lossy(&out.stderr));
    assert!(code.is_some_and(|c| c != 0 && c != 101), "glimpse {args:?} should fail cleanly, got {:?}: {err}", out.status);
    assert!(!err.contains("panicked") && !err.contains("memory allocation"), "glimpse {args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "glimpse {args:?}: message lacks {n:?}: {err}");
    }
}

/// `glimpse caption --model dir` on a published-captioner folder (the ViT-GPT-2 fixture) whose
/// `pytorch_model.bin` is `bin`.
fn caption_with_bin(bin: &[u8], needles: &[&str]) {
    let tmp = tempdir();
    let dir = tmp.path().join("model");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "generation_config.json", "preprocessor_config.json"] {
        std::fs::copy(fixtures().join("ved_vit_bin").join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("pytorch_model.bin"), bin).unwrap();
    let img = fixtures().join("images/portrait.png");
    let mut all = vec!["pytorch_model.bin"];
    all.extend(needles);
    refused(&["caption", "--backend", "cpu", "--model", dir.to_str().unwrap(), img.to_str().unwrap()], &all);
}

// ---------------------------------------------------------------------------------------------
// A minimal torch.save writer: a stored zip of `archive/data.pkl` and `archive/data/<key>`.

/// One zip member: name and data.
type Member = (String, Vec<u8>);

/// A stored (uncompressed) zip of `members`, CRCs right.
fn zip(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in members {
        let offset = out.len() as u32;
        let crc = crc32fast::hash(data);
        let (n, size) = (name.len() as u16, data.len() as u32);
        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend(crc.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(n.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(data);
        cd.extend(0x0201_4b50u32.to_le_bytes());
        cd.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        cd.extend(crc.to_le_bytes());
        cd.extend(size.to_le_bytes());
        cd.extend(size.to_le_bytes());
        cd.extend(n.to_le_bytes());
        cd.extend([0; 12]);
        cd.extend(offset.to_le_bytes());
        cd.extend(name.as_bytes());
    }
    let (cd_offset, cd_len, count) = (out.len() as u32, cd.len() as u32, members.len() as u16);
    out.extend(cd);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend(count.to_le_bytes());
    out.extend(count.to_le_bytes());
    out.extend(cd_len.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend([0, 0]);
    out
}

/// Pickle opcodes for an integer (BININT, or LONG1 for what does not fit 32 bits).
fn int(v: i64) -> Vec<u8> {
    match i32::try_from(v) {
        Ok(v) => [&[b'J'][..], &v.to_le_bytes()].concat(),
        Err(_) => [&[0x8a, 8][..], &v.to_le_bytes()].concat(),
    }
}

fn text(s: &str) -> Vec<u8> {
    [&[b'X'][..], &(s.len() as u32).to_le_bytes(), s.as_bytes()].concat()
}

fn tuple(items: &[Vec<u8>]) -> Vec<u8> {
    [&[b'('][..], &items.concat(), b"t"].concat()
}

/// The pickle of `{key: _rebuild_tensor_v2(storage "0", offset, size, stride)}`.
fn state_dict(key: &str, offset: i64, size: &[i64], stride: &[i64]) -> Vec<u8> {
    let storage = [&b"("[..], &text("storage"), b"ctorch\nFloatStorage\n", &text("0"), &text("cpu"), &int(4), b"tQ"].concat();
    let ints = |v: &[i64]| tuple(&v.iter().map(|&x| int(x)).collect::<Vec<_>>());
    let args = tuple(&[storage, int(offset), ints(size), ints(stride), vec![0x89], b"ccollections\nOrderedDict\n)R".to_vec()]);
    let tensor = [&b"ctorch._utils\n_rebuild_tensor_v2\n"[..], &args, b"R"].concat();
    [&[0x80, 2, b'}', b'('][..], &text(key), &tensor, b"u."].concat()
}

fn torch_file(pickle: Vec<u8>, storage: Vec<u8>) -> Vec<u8> {
    zip(&[("archive/data.pkl".into(), pickle), ("archive/data/0".into(), storage)])
}

const KEY: &str = "decoder.transformer.wte.weight";

/// A well-formed checkpoint of two tensors sharing one storage (a fuzz seed).
pub fn small_torch_file() -> Vec<u8> {
    let mut pickle = state_dict(KEY, 0, &[2, 2], &[2, 1]);
    pickle.pop(); // `.`
    pickle.pop(); // `u`
    pickle.extend(text("lm_head.weight"));
    let view = state_dict(KEY, 1, &[2], &[2]);
    let tensor = view.windows(13).position(|w| w == b"ctorch._utils").unwrap();
    pickle.extend(&view[tensor..view.len() - 2]);
    pickle.extend(b"u.");
    torch_file(pickle, (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect())
}

#[test]
fn torch_views_outside_their_storage() {
    // A negative storage offset used to wrap to a huge index and panic.
    caption_with_bin(&torch_file(state_dict(KEY, -8, &[2], &[1]), vec![0; 16]), &["storage offset -8 is negative"]);
    // A huge stride: its index arithmetic overflows.
    caption_with_bin(&torch_file(state_dict(KEY, 0, &[3, 2], &[i64::MAX / 2, 1]), vec![0; 16]), &["reach past any storage"]);
    // A view reaching past its storage's bytes.
    caption_with_bin(&torch_file(state_dict(KEY, 2, &[4], &[1]), vec![0; 16]), &["reads 24 bytes of storage", "which has 16"]);
    // Negative sizes and a 17-dimensional tensor.
    caption_with_bin(&torch_file(state_dict(KEY, 0, &[-1], &[1]), vec![0; 16]), &["negative"]);
    caption_with_bin(&torch_file(state_dict(KEY, 0, &[1; 17], &[1; 17]), vec![0; 16]), &["17 dimensions"]);
    // A stride-0 view declaring 2^40 elements of a 4-byte storage.
    caption_with_bin(&torch_file(state_dict(KEY, 0, &[1 << 40], &[0]), vec![0; 4]), &["declares shape [1099511627776]", "largest tensor"]);
}

#[test]
fn zip_directories_that_lie() {
    let good = torch_file(state_dict(KEY, 0, &[4], &[1]), vec![0; 16]);
    let eocd = good.len() - 22;
    let cd_offset = u32::from_le_bytes(good[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    // A local-header offset past the end of the file (used to overflow a capacity).
    let mut bad = good.clone();
    bad[cd_offset + 42..cd_offset + 46].copy_from_slice(&u32::MAX.wrapping_sub(7).to_le_bytes());
    caption_with_bin(&bad, &["lies past the end"]);
    // A ZIP64 end record announcing 2^40 members (was given to Vec::with_capacity).
    let mut z = good[..eocd].to_vec();
    let cd_len = (eocd - cd_offset) as u64;
    let rec = z.len() as u64;
    z.extend(0x0606_4b50u32.to_le_bytes());
    z.extend(44u64.to_le_bytes());
    z.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend((1u64 << 40).to_le_bytes());
    z.extend((1u64 << 40).to_le_bytes());
    z.extend(cd_len.to_le_bytes());
    z.extend((cd_offset as u64).to_le_bytes());
    z.extend(0x0706_4b50u32.to_le_bytes());
    z.extend(0u32.to_le_bytes());
    z.extend(rec.to_le_bytes());
    z.extend(1u32.to_le_bytes());
    z.extend(0x0605_4b50u32.to_le_bytes());
    z.extend([0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    z.extend(u32::MAX.to_le_bytes());
    z.extend(u32::MAX.to_le_bytes());
    z.extend([0, 0]);
    caption_with_bin(&z, &["announces 1099511627776 members"]);
    // A directory cut short.
    let mut cut = good[..eocd].to_vec();
    cut.truncate(cd_offset + 20);
    cut.extend(&good[eocd..]);
    caption_with_bin(&cut, &["zip"]);
}

#[test]
fn flipped_bytes_fail_the_crc() {
    let mut bin = std::fs::read(fixtures().join("ved_vit_bin/pytorch_model.bin")).unwrap();
    // The first storage's data: after the local header whose name ends in `/data/0`.
    let name = bin.windows(7).position(|w| w == b"/data/0").unwrap();
    let header = bin[..name].windows(4).rposition(|w| w == b"PK\x03\x04").unwrap();
    let n = u16::from_le_bytes([bin[header + 26], bin[header + 27]]) as usize;
    let x = u16::from_le_bytes([bin[header + 28], bin[header + 29]]) as usize;
    bin[header + 30 + n + x + 3] ^= 0x10;
    caption_with_bin(&bin, &["fails its CRC-32 check", "/data/0"]);
}

#[test]
fn pickles_that_nest_or_multiply() {
    // A million nested tuples (a recursive drop used to overflow the stack).
    let mut deep = vec![0x80, 2, b'N'];
    deep.extend(std::iter::repeat_n(0x85, 1_000_000));
    deep.push(b'.');
    caption_with_bin(&torch_file(deep, vec![]), &["nest more than 64 deep"]);
    // A 4 KB memo bomb: each step pairs the last value with itself (it doubled in memory on
    // every BINGET when values were cloned; shared now, and the nesting is refused).
    let mut bomb = vec![0x80, 2, b']', b'q', 0];
    for _ in 0..1000 {
        bomb.extend([b'h', 0, b'h', 0, 0x86, b'q', 0]);
    }
    bomb.push(b'.');
    assert!(bomb.len() < 8 << 10);
    caption_with_bin(&torch_file(bomb, vec![]), &["nest more than 64 deep"]);
    // A wide bomb within the depth limit: a dict of 100,000 keys each holding a memoised
    // 1,000-item list; shared, it takes a few MB, and is refused as not a state dict.
    let mut wide = vec![0x80, 2, b'}', b']', b'('];
    wide.extend(std::iter::repeat_n(b'N', 1000));
    wide.extend([b'e', b'q', 1, b'0', b'(']);
    for i in 0..100_000 {
        wide.extend(text(&format!("k{i}")));
        wide.extend([b'h', 1]);
    }
    wide.extend(b"u.");
    caption_with_bin(&torch_file(wide, vec![]), &["entry `k0` is a list, not a tensor"]);
    // Code: refused by name, never run.
    let evil = [&[0x80, 2][..], b"cos\nsystem\n", &text("touch /tmp/pwned"), &[0x85, b'R', b'.']].concat();
    caption_with_bin(&torch_file(evil, vec![]), &["`os.system`", "was not executed"]);
}

// ---------------------------------------------------------------------------------------------
// safetensors

/// A safetensors file of one F32 tensor `key` of `shape` whose data region is `data_len` bytes
/// long, written sparse (only the header is on disk) so a terabyte costs nothing.
fn sparse_safetensors(path: &Path, key: &str, shape: &[u64], data_len: u64) {
    let header = format!(r#"{{"{key}":{{"dtype":"F32","shape":{shape:?},"data_offsets":[0,{data_len}]}}}}"#);
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    let len = bytes.len() as u64 + data_len;
    std::fs::write(path, &bytes).unwrap();
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

fn clip_folder_with(write: impl FnOnce(&Path)) -> (TempDir, PathBuf) {
    let tmp = tempdir();
    let dir = tmp.path().join("clip");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "preprocessor_config.json"] {
        std::fs::copy(model_dir("clip_a").join(f), dir.join(f)).unwrap();
    }
    write(&dir.join("model.safetensors"));
    (tmp, dir)
}

fn classify(dir: &Path, needles: &[&str]) {
    let labels = fixtures().join("zeroshot/id2label.json");
    let img = fixtures().join("zeroshot/0_0.png");
    let args =
        ["classify", "--backend", "cpu", "--model", dir.to_str().unwrap(), "--labels", labels.to_str().unwrap(), img.to_str().unwrap()];
    let mut all = vec!["model.safetensors"];
    all.extend(needles);
    refused(&args, &all);
}

#[test]
fn safetensors_declaring_huge_tensors_are_refused_before_reading() {
    // 12 GB and 1 TB tensors under a key the model wants, in sparse files of that size: refused
    // from the header (the tensor's bytes used to be read in full before its shape was checked).
    for (shape, len) in [(vec![3u64 << 30], 12u64 << 30), (vec![1 << 18, 1 << 20], 1 << 40)] {
        let (_tmp, dir) = clip_folder_with(|p| sparse_safetensors(p, "vision_model.embeddings.class_embedding", &shape, len));
        classify(&dir, &["vision_model.embeddings.class_embedding", "declares shape", "largest tensor"]);
    }
}

#[test]
fn safetensors_headers_that_lie_name_the_tensor() {
    let write = |header: &'static str| {
        move |p: &Path| {
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            bytes.extend(header.as_bytes());
            bytes.extend([0u8; 64]);
            std::fs::write(p, bytes).unwrap();
        }
    };
    // Shape and data range disagree (the safetensors crate said "invalid shape, data type, or
    // offset for tensor", naming none).
    let (_t, dir) = clip_folder_with(write(r#"{"logit_scale":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#));
    classify(&dir, &["tensor `logit_scale`", "shape [3] of F32 does not fill its data range 0..8"]);
    // A shape whose byte size overflows.
    let (_t, dir) = clip_folder_with(write(r#"{"logit_scale":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#));
    classify(&dir, &["tensor `logit_scale`", "its size overflows"]);
    // Overlapping ranges.
    let (_t, dir) = clip_folder_with(write(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
    ));
    classify(&dir, &["tensor `b`", "overlaps"]);
    // A file with no tensor the model wants: refused before the model is built (which would
    // fill the whole config's size with zeros first), naming the file, not `<memory>`.
    let (_t, dir) = clip_folder_with(write(r#"{"unrelated":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#));
    classify(&dir, &["the checkpoint holds 0 of the", "parameters its config.json describes"]);
    // A config describing a large model (3.2 B parameters, within every bound) over a small
    // checkpoint: refused the same way, without allocating the 13 GB of zeros it would need.
    let (_t, dir) = clip_folder_with(|p| std::fs::copy(model_dir("clip_a").join("model.safetensors"), p).map(|_| ()).unwrap());
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&config).unwrap();
    v["vision_config"]["num_hidden_layers"] = 64.into();
    v["vision_config"]["hidden_size"] = 2048.into();
    v["vision_config"]["num_attention_heads"] = 16.into();
    v["vision_config"]["intermediate_size"] = 8192.into();
    std::fs::write(dir.join("config.json"), v.to_string()).unwrap();
    classify(&dir, &["parameters its config.json describes"]);
}

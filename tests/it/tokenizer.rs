//! The bundled CLIP tokenizer gives HF's ids; special-token ids are checked against the
//! model's vocabulary; corrupt tokenizer.json files give errors, never panics.

use glimpse::tokenize::{BUNDLED_CLIP_TOKENIZER, BUNDLED_GPT2_TOKENIZER, ClipTokenizer, Gpt2Tokenizer};

use crate::common::fixtures;

#[test]
fn tokenizer_matches_hf_on_varied_strings() {
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("tokenizer_cases.json")).unwrap()).unwrap();
    assert!(cases.len() >= 25);
    let tok = ClipTokenizer::bundled(77, 49408).unwrap();
    let mut truncated = 0;
    for c in &cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text).unwrap();
        assert_eq!(got, want, "ids differ for {text:?}");
        if want.len() == 77 {
            assert_eq!(*got.last().unwrap(), glimpse::tokenize::CLIP_EOS, "truncation keeps <|endoftext|>");
            truncated += 1;
        }
    }
    assert!(truncated >= 2, "the cases include texts longer than 77 tokens");
}

/// A caption every tokenizer case encodes.
const CAPTION: &str = "A man riding a wave on top of a surfboard.";

/// The real `tokenizer.json` (the bundled one) with `edit` applied to its JSON.
fn edited(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[track_caller]
fn fails_with<T>(r: glimpse::Result<T>, needles: &[&str]) {
    let Err(e) = r else { panic!("expected an error with {needles:?}") };
    let e = e.to_string();
    for n in needles {
        assert!(e.contains(n), "message lacks {n:?}: {e}");
    }
}

#[test]
fn special_token_ids_are_checked_against_the_model_vocabulary() {
    // The post-processor's <|endoftext|> moved past every vocabulary, named by its file.
    let json = edited(BUNDLED_CLIP_TOKENIZER, |v| v["post_processor"]["sep"][1] = 999_999.into());
    let shown = "models/clip/tokenizer.json";
    fails_with(ClipTokenizer::named(&json, shown, 77, 49408), &[shown, "`<|endoftext|>` has id 999999", "49408 tokens"]);
    // Bytes without a file name are named as tokenizer.json.
    fails_with(ClipTokenizer::from_bytes(&json, 77, 49408), &["tokenizer.json:", "999999"]);

    // The real tokenizer for a model with a smaller vocabulary than its ids.
    fails_with(
        ClipTokenizer::bundled(77, 49000),
        &["tokenizer.json", "post-processor token `<|endoftext|>` has id 49407", "vocabulary of 49000 tokens"],
    );
    let gpt2 = Gpt2Tokenizer::from_bytes(BUNDLED_GPT2_TOKENIZER).unwrap();
    fails_with(gpt2.for_vocab(50000), &["tokenizer.json", "`<|endoftext|>` has id 50256", "vocabulary of 50000 tokens"]);
    let gpt2 = Gpt2Tokenizer::from_bytes(BUNDLED_GPT2_TOKENIZER).unwrap().for_vocab(50257).unwrap();
    assert_eq!(gpt2.decode(&gpt2.encode(CAPTION).unwrap()).unwrap(), CAPTION);

    // The same specials spelled as a TemplateProcessing: the same ids when they fit, an error when not.
    let template = |eos: u32| {
        edited(BUNDLED_CLIP_TOKENIZER, |v| {
            v["post_processor"] = serde_json::json!({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<|startoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {
                    "<|startoftext|>": {"id": "<|startoftext|>", "ids": [49406], "tokens": ["<|startoftext|>"]},
                    "<|endoftext|>": {"id": "<|endoftext|>", "ids": [eos], "tokens": ["<|endoftext|>"]}}});
        })
    };
    let want = ClipTokenizer::bundled(77, 49408).unwrap().encode(CAPTION).unwrap();
    assert_eq!(ClipTokenizer::from_bytes(&template(49407), 77, 49408).unwrap().encode(CAPTION).unwrap(), want);
    fails_with(ClipTokenizer::from_bytes(&template(999_999), 77, 49408), &["tokenizer.json", "`<|endoftext|>` has id 999999"]);
}

#[test]
fn a_decoder_that_panics_inside_tokenizers_is_an_error() {
    // `Strip` cutting more characters than a token has indexes out of bounds inside the
    // tokenizers crate: loading (which decodes a probe) reports it instead of panicking.
    let json =
        edited(BUNDLED_GPT2_TOKENIZER, |v| v["decoder"] = serde_json::json!({"type": "Strip", "content": "a", "start": 0, "stop": 5}));
    fails_with(Gpt2Tokenizer::from_bytes(&json), &["tokenizer.json", "cannot decode", "corrupt"]);
}

/// Deterministic pseudo-random numbers (64-bit LCG), no dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// One-byte edits of `json`: every byte of its `decoder` section (twice, different bytes) and
/// `spread` bytes spread over the rest of the sections before `model` and over `model` itself.
fn one_byte_edits(json: &[u8], spread: usize, seed: u64) -> Vec<(usize, u8)> {
    let find = |s: &[u8]| json.windows(s.len()).position(|w| w == s).unwrap();
    let (decoder, model) = (find(b"\"decoder\""), find(b"\"model\""));
    assert!(decoder < model, "the decoder comes before the model in tokenizer.json");
    const BYTES: &[u8] = b"0 9\"{}[]:,-.\\tnx\xff\x00";
    let mut rng = Lcg(seed);
    let mut edits = Vec::new();
    let pick = |at: usize, rng: &mut Lcg| {
        let b = match rng.below(BYTES.len() + 2) {
            i if i < BYTES.len() => BYTES[i],
            i if i == BYTES.len() => json[at] ^ 0x20,
            _ => json[at].wrapping_add(1),
        };
        (at, if b == json[at] { b ^ 0x01 } else { b })
    };
    for at in decoder..model {
        edits.push(pick(at, &mut rng));
        edits.push(pick(at, &mut rng));
    }
    for _ in 0..spread / 2 {
        let at = rng.below(decoder);
        edits.push(pick(at, &mut rng));
        let at = model + rng.below(json.len() - model);
        edits.push(pick(at, &mut rng));
    }
    edits
}

/// What the one-byte edits did: those that panicked (offset, new byte), how many loaded, and how
/// many were refused with the message of a panic caught inside the tokenizers crate.
#[derive(Default)]
struct Outcomes {
    panicked: Vec<(usize, u8)>,
    loaded: usize,
    caught: usize,
}

/// Runs `case` (loading and using a tokenizer: `Ok` when it loaded, else the error) on every
/// edit of `json`, on two threads.
fn run_edits(json: &[u8], edits: &[(usize, u8)], case: &(dyn Fn(&[u8]) -> glimpse::Result<()> + Sync)) -> Outcomes {
    let outcomes: Vec<Outcomes> = std::thread::scope(|s| {
        let workers: Vec<_> = edits
            .chunks(edits.len().div_ceil(2))
            .map(|chunk| {
                s.spawn(move || {
                    let mut out = Outcomes::default();
                    let mut bytes = json.to_vec();
                    for &(at, b) in chunk {
                        bytes[at] = b;
                        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&bytes))) {
                            Ok(Ok(())) => out.loaded += 1,
                            Ok(Err(e)) => out.caught += usize::from(e.to_string().contains("the tokenizers library failed")),
                            Err(_) => out.panicked.push((at, b)),
                        }
                        bytes[at] = json[at];
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    outcomes.into_iter().fold(Outcomes::default(), |mut all, o| {
        all.panicked.extend(o.panicked);
        all.loaded += o.loaded;
        all.caught += o.caught;
        all
    })
}

#[test]
fn corrupt_tokenizer_files_give_errors_not_panics() {
    // CLIP: load for a 77-position, 49408-token text tower, then encode.
    let clip = |bytes: &[u8]| {
        let t = ClipTokenizer::from_bytes(bytes, 77, 49408)?;
        let _ = t.encode(CAPTION);
        Ok(())
    };
    // GPT-2: load, check against the decoder's vocabulary, encode, decode, and decode each piece.
    let gpt2 = |bytes: &[u8]| {
        let t = Gpt2Tokenizer::from_bytes(bytes)?.for_vocab(50257)?;
        if let Ok(ids) = t.encode(CAPTION) {
            let _ = t.decode(&ids);
        }
        let _ = t.pieces(&[0, 64, 50256, 1000]);
        Ok(())
    };
    type Case<'a> = &'a (dyn Fn(&[u8]) -> glimpse::Result<()> + Sync);
    for (name, json, case, seed) in
        [("CLIP", BUNDLED_CLIP_TOKENIZER, &clip as Case, 1), ("GPT-2", BUNDLED_GPT2_TOKENIZER, &gpt2 as Case, 2)]
    {
        let edits = one_byte_edits(json, 100, seed);
        assert!(edits.len() >= 250, "{name}: {} edits", edits.len());
        let out = run_edits(json, &edits, case);
        assert!(out.panicked.is_empty(), "{name}: these one-byte edits (offset, new byte) panicked: {:?}", out.panicked);
        // Some edits load and some do not. Those that broke the JSON inside the decoder used to
        // panic in the tokenizers crate (its deserialiser `expect`s): they are refused by the
        // JSON check before it now; panics it still has (see the Strip test) are caught.
        assert!(out.loaded > 0 && out.loaded < edits.len(), "{name}: {} of {} edits loaded", out.loaded, edits.len());
        eprintln!("{name}: {} edits, {} loaded, {} refused after a caught panic", edits.len(), out.loaded, out.caught);
    }
}

/// Found by fuzzing (both used to panic inside the tokenizers crate): a number out of f64's range
/// in the decoder section passes a syntax-only check but not the crate's deserialiser, and a
/// template that names a special token its post-processor does not define panics on encode.
#[test]
fn fuzz_findings_are_errors() {
    let text = String::from_utf8(BUNDLED_GPT2_TOKENIZER.to_vec()).unwrap();
    let at = text.find("\"decoder\"").unwrap();
    let decoder = text[at..].find('{').unwrap() + at + 1;
    let huge = format!("{}\"x\": 1e999, {}", &text[..decoder], &text[decoder..]);
    fails_with(Gpt2Tokenizer::from_bytes(huge.as_bytes()), &["tokenizer.json", "not valid JSON", "number out of range"]);
    let unknown = edited(BUNDLED_CLIP_TOKENIZER, |v| {
        v["post_processor"] = serde_json::json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|nowhere|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {}
        })
    });
    assert!(ClipTokenizer::from_bytes(&unknown, 77, 49408).is_err());
}

/// Word chips merge the tokens byte-level BPE splits a character over: on every tokenizer case
/// and on texts of accented letters, CJK, emoji and symbols, the chips cover the ids in order,
/// none shows U+FFFD, and together they read as the decoded text.
#[test]
fn chips_merge_characters_split_over_tokens() {
    let tok = Gpt2Tokenizer::from_bytes(BUNDLED_GPT2_TOKENIZER).unwrap();
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("tokenizer_cases.json")).unwrap()).unwrap();
    let mut texts: Vec<String> = cases.iter().map(|c| c["text"].as_str().unwrap().to_string()).collect();
    let pieces = ["café", "naïve", "Straße", "東京の夜景", "🐈 on a mat", "a 🏳️‍🌈 flag", "½ a pizza", "Ωmega", "€5", "déjà vu"];
    for (i, a) in pieces.iter().enumerate() {
        for b in &pieces[i..] {
            texts.push(format!("a photo of {a} and {b}"));
        }
    }
    let mut merged = 0;
    for text in &texts {
        let ids = tok.encode(text).unwrap();
        let chips = tok.chips(&ids).unwrap();
        let mut next = 0;
        for (chip, start, end) in &chips {
            assert_eq!(*start, next, "{text:?}: chips cover the ids in order");
            assert!(end > start && end - start <= glimpse::tokenize::MAX_CHIP_TOKENS);
            assert!(!chip.contains('\u{FFFD}'), "{text:?}: chip {chip:?} is a partial character");
            merged += usize::from(end - start > 1);
            next = *end;
        }
        assert_eq!(next, ids.len());
        let joined: String = chips.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(joined, tok.decode(&ids).unwrap(), "{text:?}: the chips read as the text");
    }
    assert!(merged >= 20, "the texts split characters over tokens ({merged} merged chips)");
}

//! The bundled CLIP tokenizer gives HF's ids.

use glimpse::tokenize::ClipTokenizer;

use crate::common::fixtures;

#[test]
fn tokenizer_matches_hf_on_varied_strings() {
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("tokenizer_cases.json")).unwrap()).unwrap();
    assert!(cases.len() >= 25);
    let tok = ClipTokenizer::bundled(77).unwrap();
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

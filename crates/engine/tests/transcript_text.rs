//! Transcript text with a real SentencePiece model trained with byte fallback
//! (`tests/data/byte_fallback.model`, from `scripts/reference/make_byte_fallback_spm.py`):
//! fed one token per frame, `TextDecoder` shows exactly what sentencepiece's own `decode`
//! makes of the whole sequence — `’`, `é`, emoji and CJK from `<0xHH>` pieces — and hides
//! control and unknown pieces.

use engine::{PieceKind, TextDecoder, TextTokenizer};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn load() -> (TextTokenizer, Value) {
    let t = TextTokenizer::load(&data().join("byte_fallback.model")).expect("model parses");
    let text = std::fs::read_to_string(data().join("byte_fallback_cases.json")).expect("cases");
    (t, serde_json::from_str(&text).expect("json"))
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("ids")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

#[test]
fn byte_pieces_assemble_into_utf8_across_frames() {
    let (t, cases) = load();
    let mut d = TextDecoder::new(t);
    let cases = cases["cases"].as_array().expect("cases");
    assert!(cases.len() >= 4);
    for case in cases {
        let want = case["decoded"].as_str().expect("decoded");
        // One token per frame, with Moshi's EPAD (0) and PAD (3) and a control piece (1)
        // between them, as a conversation interleaves them.
        let mut shown = String::new();
        for (i, id) in ids(&case["ids"]).into_iter().enumerate() {
            let filler = [0, 3, 1][i % 3];
            if let Some(s) = d.push(filler) {
                panic!("{filler} showed {s:?}");
            }
            if let Some(s) = d.push(id) {
                shown.push_str(&s);
            }
        }
        // sentencepiece's decode drops the leading `▁` of the first piece.
        assert_eq!(shown.strip_prefix(' ').unwrap_or(&shown), want, "{case}");
        assert!(!shown.contains('\u{FFFD}'), "{shown:?}");
    }
}

#[test]
fn piece_types_come_from_the_model() {
    let (t, cases) = load();
    let kinds = &cases["kinds"];
    for id in ids(&kinds["control"]) {
        assert_eq!(t.kind(id), Some(PieceKind::Control), "{id}");
        assert_eq!(t.display(id), None);
    }
    for id in ids(&kinds["unknown"]) {
        assert_eq!(t.kind(id), Some(PieceKind::Unknown), "{id}");
        assert_eq!(t.display(id), None);
    }
    let bytes = ids(&kinds["byte"]);
    assert_eq!(bytes.len(), 256);
    for (b, id) in bytes.into_iter().enumerate() {
        assert_eq!(t.kind(id), Some(PieceKind::Byte(b as u8)), "{id}");
    }
}

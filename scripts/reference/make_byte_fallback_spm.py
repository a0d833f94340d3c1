#!/usr/bin/env python3
"""Test data for the engine's transcript text (crates/engine/tests/data/):

    byte_fallback.model       a tiny unigram SentencePiece model trained with byte fallback
                              (Moshi's special ids: 0 <unk>, 1 <s>, 2 </s>, 3 <pad>)
    byte_fallback_cases.json  token ids of texts with characters outside the training corpus
                              (’, é, emoji, CJK), so they encode as byte pieces
                              (<0xE2><0x80><0x99>), and the text sentencepiece decodes them to

    .venv/bin/python scripts/reference/make_byte_fallback_spm.py
"""

import io
import json
import pathlib

import sentencepiece as spm

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates" / "engine" / "tests" / "data"
CORPUS = """Moshi is a speech text foundation model for real time dialogue.
It listens and speaks at the same time, in frames of eighty milliseconds.
The quick brown fox jumps over the lazy dog while the small cat sleeps in the warm sun.
Hello, how are you today? I am fine, thank you very much. What would you like to talk about?
"""
CASES = [
    "It’s fine, isn’t it?",
    "Café crème",
    "Hello 👋 world 🌍",
    "日本語",
    "plain ascii text",
]


def main() -> None:
    lines = [l for l in CORPUS.splitlines() if l.strip()] * 20
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, vocab_size=320,
        model_type="unigram", unk_id=0, bos_id=1, eos_id=2, pad_id=3, byte_fallback=True,
        character_coverage=1.0, normalization_rule_name="identity", num_threads=1,
        minloglevel=2)
    model = buf.getvalue()
    sp = spm.SentencePieceProcessor(model_proto=model)
    cases = []
    for text in CASES:
        ids = sp.encode(text)
        pieces = [sp.id_to_piece(i) for i in ids]
        assert any(p.startswith("<0x") for p in pieces) or text.isascii(), (text, pieces)
        cases.append({"text": text, "ids": ids, "pieces": pieces, "decoded": sp.decode(ids)})
    kinds = {
        "control": [i for i in range(sp.get_piece_size()) if sp.is_control(i)],
        "unknown": [i for i in range(sp.get_piece_size()) if sp.is_unknown(i)],
        "byte": [i for i in range(sp.get_piece_size()) if sp.is_byte(i)],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "byte_fallback.model").write_bytes(model)
    (OUT / "byte_fallback_cases.json").write_text(
        json.dumps({"cases": cases, "kinds": kinds}, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {OUT}/byte_fallback.model ({len(model)} bytes) and byte_fallback_cases.json")


if __name__ == "__main__":
    main()

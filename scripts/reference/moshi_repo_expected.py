"""Writes what moshi_mlx's own `LmConfig.from_config_dict` makes of each Kyutai-format
config in crates/moshi-repo/tests/data/ (`NAME.json` -> `NAME.expected.json`), so the
Rust parser is checked against the reference, field for field.

    .venv/bin/python scripts/reference/moshi_repo_expected.py
"""

import dataclasses
import json
import pathlib

from moshi_mlx import models

DATA = pathlib.Path(__file__).resolve().parents[2] / "crates" / "moshi-repo" / "tests" / "data"


def expected(cfg: models.LmConfig) -> dict:
    d = dataclasses.asdict(cfg)
    d["derived"] = {
        "generated_codebooks": cfg.generated_codebooks,
        "other_codebooks": cfg.other_codebooks,
        "audio_eos_token": cfg.audio_eos_token,
        "audio_padding_token": cfg.audio_padding_token,
        "main_head_dim": cfg.transformer.head_dim,
        "depformer_head_dim": cfg.depformer.transformer.head_dim,
    }
    return d


def main() -> None:
    for src in sorted(DATA.glob("*.json")):
        if src.name.endswith(".expected.json"):
            continue
        cfg = models.LmConfig.from_config_dict(json.loads(src.read_text()))
        out = src.with_name(src.stem + ".expected.json")
        out.write_text(json.dumps(expected(cfg), indent=1, sort_keys=True) + "\n")
        print(f"{src.name} -> {out.name}")


if __name__ == "__main__":
    main()

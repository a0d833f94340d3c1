#!/usr/bin/env python3
"""Copy a reference-fixture directory written before fixtures carried Kyutai's format
(e.g. the read-only /work/shared/reference/moshi-tiny-seed0) and add the `config.json` its
`lm_reference.json` config corresponds to, in Kyutai's repo format (checked to give back the
same LmConfig through moshi_mlx's `from_config_dict`). Nothing else changes.

    convert_fixture.py SRC OUT
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_configs as fc  # noqa: E402
from replay_fixture import lm_config_from_json  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        if f.is_file():
            shutil.copyfile(f, out / f.name)
    ref = json.loads((src / "lm_reference.json").read_text())
    cfg = lm_config_from_json(ref["config"])
    config = fc.kyutai_config(cfg, moshi_name=ref["weights_file"], mimi_name="mimi.safetensors")
    (out / "config.json").write_text(json.dumps(config, indent=1))
    print(f"{src} copied to {out} with a Kyutai-format config.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

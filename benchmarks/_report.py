"""Writing a benchmark's results: printed, and as Markdown and JSON under the output folder."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(out_dir: str | Path, name: str, text: str, data=None) -> Path:
    """Print ``text``; write ``name.md`` and, when ``data`` is given, ``name.json``."""
    print(text)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text.rstrip("\n") + "\n")
    if data is not None:
        (out / f"{name}.json").write_text(json.dumps(data, indent=2, default=float))
    return out

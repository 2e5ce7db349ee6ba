"""What every benchmark records beside its figures: machine, device, commit."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", ":/wordspot"], capture_output=True,
                                    text=True, cwd=Path(__file__).parent).stdout.strip())
    except OSError:
        commit, dirty = "unknown", False
    return {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": "cuda" if torch.cuda.is_available() else "cpu", "torch": torch.__version__,
            "python": platform.python_version(), "commit": commit + ("+dirty" if dirty else "")}


def write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    tmp.replace(path)


def md_table(header: list[str], rows: list[list[object]]) -> list[str]:
    """Markdown table lines."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
           ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def run_folds(parser, runs: list[str]) -> list[tuple[Path, str]]:
    """`benchmarks/gw.py` run folders with their folds (a run's name ends in its fold); a usage error for
    a folder named otherwise."""
    import re
    out = []
    for run in map(Path, runs):
        fold = re.search(r"(cv\d+)$", run.name)
        if not fold:
            parser.error(f"{run}: the run folder's name should end in its fold (cv1 ... cv4)")
        out.append((run, fold.group(1)))
    return out


def held_out(data: str, fold: str, holdout: int) -> list:
    """The validation images a gw.py run held out of training (the last `holdout` of the fold's valid)."""
    from wordspot.data import open_source
    valid = open_source(data, fold).subset("valid")
    return valid[len(valid) - min(holdout, len(valid)):]

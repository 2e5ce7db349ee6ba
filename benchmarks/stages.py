"""Does the joint stage earn its minutes (issue #29)? For each `benchmarks/gw.py` result file of a fused run
with an image and a joint stage: the best validation score of each stage (the mean of validation QbS and QbE
mAP, as training keeps checkpoints), whether the joint stage beat the image stage there (so its model was
kept), and each stage's model on the test fold (reported beside, never used to choose).

Reads the result files only (their `curve` and `stages`), so it runs on any checkout:

    cd benchmarks && python stages.py results/gw-both-starter2fv-40min-cv1.json \
        results/gw-both-starterfv-40min-cv2.json results/gw-both-starterfv-40min-cv3.json \
        results/gw-both-starter2fv-40min-cv4.json
    python stages.py results/gw-both-starter-40min*-cv*.json results/gw-both-branch-40min*-cv*.json \
        results/gw-both-branchv2-40min*-cv*.json --out results/stages-holdout300.json

Results: benchmarks/results/stages.json (or --out); a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from common import RESULTS, md_table, write_json


def stage_bests(curve: list[dict]) -> dict[str, float]:
    """Each stage's best validation score over its checks (member 0)."""
    out: dict[str, float] = {}
    for c in curve:
        if c.get("member", 0) != 0:
            continue
        score = float(np.nanmean([c.get("val_qbs", np.nan), c.get("val_qbe", np.nan)]))
        if np.isfinite(score):
            out[c["stage"]] = max(out.get(c["stage"], -np.inf), score)
    return out


def row(path: Path) -> dict | None:
    """One result file's stages, or None when it has no image-and-joint pair of stages to compare."""
    res = json.loads(path.read_text())
    best = stage_bests(res.get("curve", []))
    if not {"image", "joint"} <= set(best):
        return None
    cfg = res.get("config", {})
    test = res.get("stages", {})
    return {"run": path.stem, "fold": res["fold"], "seed": res.get("seed", 0),
            "valid_images": cfg.get("valid_images"), "minutes": [cfg.get("image_minutes"), cfg.get("joint_minutes")],
            "val_image": best["image"], "val_joint": best["joint"], "joint_kept": best["joint"] >= best["image"],
            "test": {s: dict(test.get(s, {})) for s in ("image", "joint")}}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", help="gw.py result files (results/gw-both-...-cvN.json)")
    ap.add_argument("--out", default=str(RESULTS / "stages.json"))
    args = ap.parse_args()
    rows = [r for r in map(row, map(Path, args.results)) if r]
    if not rows:
        raise SystemExit("no result file with both an image and a joint stage")
    table = [[r["run"], r["valid_images"], pct(r["val_image"]), pct(r["val_joint"]), "yes" if r["joint_kept"] else "no",
              f"{pct(r['test']['image'].get('qbs_map'))} / {pct(r['test']['image'].get('qbe_map'))}",
              f"{pct(r['test']['joint'].get('qbs_map'))} / {pct(r['test']['joint'].get('qbe_map'))}"] for r in rows]
    print("\n".join(md_table(["run", "valid images", "val image", "val joint", "joint kept", "test image QbS / QbE",
                              "test joint QbS / QbE"], table)))
    kept = sum(r["joint_kept"] for r in rows)
    print(f"\nthe joint stage beat the image stage on validation in {kept} of {len(rows)} runs")
    write_json(Path(args.out), {"runs": rows, "joint_kept": kept, "of": len(rows)})


if __name__ == "__main__":
    main()

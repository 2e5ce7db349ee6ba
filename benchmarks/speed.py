"""Image CNN cost on this machine: parameters, training and inference images per second.

Batches of 32 random images at the given height and George Washington's mean aspect ratio (1.28);
one warm-up step, then timed steps. Results to benchmarks/results/speed.json and speed.md.

    python benchmarks/speed.py [--steps 10]
"""

from __future__ import annotations

import argparse
import time

import torch
from common import RESULTS, machine, md_table, write_json

from wordspot.model.networks import ImageCNN

CANDIDATES = [  # (name, height, channels, blocks)
    ("small-32", 32, (16, 32, 64, 128), (2, 2, 3, 3)),
    ("small-48", 48, (16, 32, 64, 128), (2, 2, 3, 3)),
    ("small-64", 64, (16, 32, 64, 128), (2, 2, 3, 3)),
    ("wide-48", 48, (32, 64, 128, 256), (2, 2, 3, 3)),
]


def measure(height: int, channels, blocks, steps: int, batch: int = 32) -> dict:
    torch.manual_seed(0)
    net = ImageCNN(128, channels, blocks)
    width = int(round(height * 1.28))
    x, w = torch.rand(batch, 1, height, width), torch.full((batch,), width)
    opt = torch.optim.AdamW(net.parameters())
    net.train()
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()
        loss = net(x, w).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_ips = steps * batch / (time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        net(x, w)
        t0 = time.perf_counter()
        for _ in range(steps):
            net(x, w)
    infer_ips = steps * batch / (time.perf_counter() - t0)
    return {"params": sum(p.numel() for p in net.parameters()), "train_img_s": round(train_ips, 1),
            "infer_img_s": round(infer_ips, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    rows = {name: {"height": h, "channels": list(c), **measure(h, c, b, args.steps)} for name, h, c, b in CANDIDATES}
    mach = machine()
    write_json(RESULTS / "speed.json", {"candidates": rows, "machine": mach})
    lines = [f"Image CNN, batch 32, {mach['cores']} cores ({mach['torch_threads']} torch threads), {mach['device']}:", ""]
    lines += md_table(["config", "height", "channels", "parameters", "train img/s", "inference img/s"],
                      [[name, r["height"], "-".join(map(str, r["channels"])), f"{r['params'] / 1e6:.2f} M",
                        r["train_img_s"], r["infer_img_s"]] for name, r in rows.items()])
    (RESULTS / "speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

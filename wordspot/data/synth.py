"""The built-in data set: handwriting-like word images rendered by the code itself, no download."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

VERSION = 2

# A vocabulary in the register of 18th-century letters, with a few long words so that
# length-related behaviour is exercised.
WORDS = """
the of and to in a that be is it for his was with as by not on he have at this from
which all but had are letter orders company officers men camp fort great general time
colonel captain governor country army enemy should would could upon last every being
received their some they them were there been these those after before about against
soldiers provisions instructions recruits regiment virginia winchester alexandria march
april may june july august september october november december sir your most obedient
humble servant honour service duty public assembly council order immediately directed
desire letters clothes arms ammunition powder lead horses wagons road men money pay
return returned returns send sent sending give given take taken make made write written
house houses town towns river frontier frontiers indians number numbers present possible
necessary necessity accounts account charge charges particular particularly expected
expect expects care careful without within between further farther others other
men mens here where there their whether weather whither neither either rather father
arrive arrived arrival quarter quarters quartermaster commissary commission commissions
""".split()

FONTS = [
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
    cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC, cv2.FONT_HERSHEY_COMPLEX | cv2.FONT_ITALIC,
    cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX | cv2.FONT_ITALIC,
]


def render_word(word: str, rng: np.random.Generator, height: int = 64) -> np.ndarray:
    """uint8 image of `word`, dark ink on white, in a random font, slant, stroke and distortion."""
    font = FONTS[rng.integers(len(FONTS))]
    scale = rng.uniform(1.1, 1.5)
    thick = int(rng.integers(1, 4))
    (tw, th), base = cv2.getTextSize(word, font, scale, thick)
    pad = 12
    canvas = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(canvas, word, (pad, pad + th), font, scale, 255, thick, cv2.LINE_AA)
    return distort(canvas.astype(np.float32) / 255.0, rng, height)


def distort(canvas: np.ndarray, rng: np.random.Generator, height: int) -> np.ndarray:
    """A rendered word (float ink in [0, 1] on 0) slanted, bent, noised and scaled to `height`: uint8, dark ink
    on white."""
    h, w = canvas.shape
    # slant, as most hands lean
    shear = rng.uniform(-0.5, 0.2)
    mat = np.float32([[1, shear, -shear * h / 2], [0, 1, 0]])
    canvas = cv2.warpAffine(canvas, mat, (w, h))
    # elastic distortion: a smooth random displacement field
    sigma, alpha = rng.uniform(4, 8), rng.uniform(1.5, 4.0)
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dx *= alpha / (np.abs(dx).max() + 1e-6)
    dy *= alpha / (np.abs(dy).max() + 1e-6)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    canvas = cv2.remap(canvas, gx + dx, gy + dy, cv2.INTER_LINEAR)
    canvas += rng.normal(0, 0.05, canvas.shape).astype(np.float32)
    canvas = np.clip(canvas, 0, 1)
    scale_to = height / h
    canvas = cv2.resize(canvas, (max(8, int(w * scale_to)), height), interpolation=cv2.INTER_AREA)
    return (255 * (1 - canvas)).astype(np.uint8)


def generate(root: str | Path, samples_per_word: int = 10, seed: int = 0, words: list[str] | None = None,
             held_out_every: int = 17) -> Path:
    """Write images and train/valid/test label files (path<TAB>word) into `root`, atomically.

    Every `held_out_every`-th word appears only in the test set (out of vocabulary).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    words = sorted(set(words or WORDS))
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    try:
        (tmp / "images").mkdir()
        rows: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
        for wi, word in enumerate(words):
            # a few words are held out entirely, so the test set also has out-of-vocabulary words
            held_out = held_out_every > 0 and wi % held_out_every == held_out_every - 1
            for k in range(samples_per_word):
                name = f"images/{wi:04d}-{k:02d}.png"
                cv2.imwrite(str(tmp / name), render_word(word, rng))
                if held_out:
                    subset = "test"
                else:
                    subset = "train" if k < samples_per_word - 4 else ("valid" if k < samples_per_word - 2 else "test")
                rows[subset].append(f"{name}\t{word}")
        for subset, lines in rows.items():
            (tmp / f"{subset}.tsv").write_text("\n".join(lines) + "\n")
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def cache_dir() -> Path:
    return Path(os.environ.get("WORDSPOT_CACHE", Path.home() / ".cache" / "wordspot"))


# 80 words, 14 images each (10 train, 2 valid, 2 test): small enough that a few CPU minutes of
# training show real retrieval in `make demo` (measured: validation QbE about 50% after 25 epochs).
BUILTIN_WORDS = sorted(set(WORDS))[::2][:80]


def builtin(root: str | Path | None = None) -> Path:
    """Path of the built-in data set, generated on first use."""
    root = Path(root) if root else cache_dir() / f"builtin-v{VERSION}"
    if not (root / "test.tsv").exists():
        if root.exists():  # an earlier generation was interrupted
            shutil.rmtree(root)
        generate(root, samples_per_word=14, words=BUILTIN_WORDS, held_out_every=0)
    return root

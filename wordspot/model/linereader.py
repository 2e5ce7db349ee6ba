"""A reader of whole text lines: the reader's CNN and BiLSTM over a line, CTC over its symbols and the space.

Trained from line images and their transcriptions alone (training/line_stage.py): no word boxes. A keyword's
score in a line, and where in the line it is, come from its log-probabilities (search/lines.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from wordspot.config import ModelConfig
from wordspot.data import Crop
from wordspot.data.imaging import ImageError, collate, crop_part, normalise, read_grey, trim_columns
from wordspot.data.text import Alphabet
from wordspot.files import save_tree
from wordspot.model.lineframes import span_columns
from wordspot.model.modelfile import FORMAT_VERSION, ModelError, build_from_file, model_id
from wordspot.model.modelfile import LINE_READER as KIND
from wordspot.model.networks import ReaderCNN

LINE_ASPECT = 120.0  # widest line (width / height) kept as it is; wider ones are squeezed


# how a user with bare page scans gets lines: no segmenter ships with wordspot (kraken would replace its torch)
SEGMENT = ("segment pages into lines first (kraken: `kraken -i PAGE.png PAGE.xml segment -bl`, or "
           "eScriptorium or Transkribus) and index the PAGE XML or ALTO files they export")


@dataclass
class LineImage:
    """A line ready for the reader: its ink image, and how its columns map back to the line's pixels."""

    image: np.ndarray  # ink = 1, `height` high
    lo: float  # the first column of the line's pixels kept (empty margins trimmed)
    scale: float  # line pixels per image pixel
    height: int  # the line's height in its own pixels

    def columns(self, span: tuple[int, int], frames: int) -> tuple[float, float]:
        """Frames `span` (first, last) of `frames` -> columns (x1, x2) in the line's pixels."""
        return span_columns(span, frames, self.image.shape[1], self.lo, self.scale)


def _looks_like_a_page(height: int, width: int) -> bool:
    """A page, not a line: taller than wide, or high (over 800 pixels) and under four times as wide (a line
    of one short word may be barely wider than high; GW's are 120 pixels high)."""
    return width < height or (height > 800 and width < 4 * height)


def load_lines(lines: list[Crop], height: int) -> tuple[list[int], list[LineImage], dict[str, str]]:
    """The readable lines' positions in `lines` and their images, and why the others were left out. A line with
    a box is cut from its page (read once for its neighbours); a whole image that looks like a page is refused
    with the way to get lines from it."""
    kept, images, bad = [], [], {}
    current, page = None, None
    for i, line in enumerate(lines):
        try:
            if line.source != current:
                current, page = line.source, None
                page = read_grey(line.source)
            if page is None:
                raise ImageError(f"{line.source}: not readable")
            part = crop_part(page, line)
            if line.box is None and _looks_like_a_page(*part.shape[:2]):
                raise ImageError(f"{line.source}: {part.shape[1]}x{part.shape[0]} pixels looks like a page, "
                                 f"not a text line; {SEGMENT}")
        except ImageError as e:
            bad[line.key] = str(e)
            continue
        kept.append(i)
        images.append(line_image(part, height))
    return kept, images, bad


def line_image(grey: np.ndarray, height: int) -> LineImage:
    """A grey line image -> (ink = 1 image `height` high, the first kept column, original pixels per pixel)."""
    lo, hi = trim_columns(1.0 - grey.astype(np.float32) / 255.0)
    img = normalise(grey, height, LINE_ASPECT)
    return LineImage(img, float(lo), (hi - lo) / max(1, img.shape[1]), grey.shape[0])


class LineReader:
    """Line image -> per-frame log-probabilities over the alphabet (space included) and the CTC blank (last)."""

    def __init__(self, config: ModelConfig, alphabet: Alphabet, device: str | torch.device = "cpu") -> None:
        if " " not in alphabet.index:
            raise ModelError("a line reader's alphabet needs the space that separates words")
        self.config, self.alphabet = config, alphabet
        self.net = ReaderCNN(len(alphabet) + 1, config.image_height, tuple(config.image_channels),
                             tuple(config.image_blocks))
        self.calibration = None
        self.to(device)

    @property
    def blank(self) -> int:
        return len(self.alphabet)

    def to(self, device: str | torch.device) -> "LineReader":
        self.device = torch.device(device)
        self.net.to(self.device)
        return self

    def nets(self) -> list[torch.nn.Module]:
        return [self.net]

    def model_id(self) -> str:
        return model_id([{k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}], None)

    def state(self) -> dict:
        return {"kind": "model", "reader": KIND, "format_version": FORMAT_VERSION, "config": asdict(self.config),
                "alphabet": self.alphabet.symbols, "model_id": self.model_id(), "image_net": self.net.state_dict()}

    def save(self, path: str | Path, **info: object) -> None:
        save_tree({**self.state(), "info": info}, path)

    @classmethod
    def from_state(cls, blob: dict, device: str | torch.device = "cpu") -> "LineReader":
        if blob.get("reader") != KIND:
            raise ModelError("not a line reader (a word model: index word crops with it, or train with --lines)")
        reader = cls(ModelConfig.from_dict(blob["config"]), Alphabet(blob["alphabet"]), device)
        reader.net.load_state_dict(blob["image_net"])
        return reader

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "LineReader":
        return build_from_file(path, lambda blob: cls.from_state(blob, device), "line reader")

    @torch.no_grad()
    def logprobs(self, images: list[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """Normalised line images -> each one's (frames, classes) float32 log-probabilities, in input order."""
        self.net.eval()
        out: list[np.ndarray | None] = [None] * len(images)
        order = np.argsort([im.shape[1] for im in images], kind="stable")
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            x, w = collate([images[j] for j in idx])
            logp, frames = self.net(x.to(self.device), w)
            logp = logp.cpu().numpy()
            for b, j in enumerate(idx):
                out[j] = logp[: int(frames[b]), b].copy()
        return out

    def transcribe(self, logp: np.ndarray) -> str:
        """The best path: the argmax of each frame, repeats merged, blanks dropped."""
        best = logp.argmax(1)
        keep = (best != self.blank) & np.r_[True, best[1:] != best[:-1]]
        return "".join(self.alphabet.symbols[c] for c in best[keep])

"""A model's string side in NumPy: what a query by string needs, without importing PyTorch.

Importing PyTorch takes about a second and most of a `wordspot query`'s memory; a typed query only
runs the string CNN (LSDE) or encodes a PHOC, which NumPy does as well (tests check both agree).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wordspot.config import ModelConfig
from wordspot.data.text import Alphabet, TextNorm
from wordspot.methods import method_of
from wordspot.methods.phoc.base import PHOC
from wordspot.methods.ranking import Rankings
from wordspot.model.calibration import check as check_calibration
from wordspot.model.calibration import check_scale
from wordspot.model.modelfile import ModelError, fusion_weights, load_file, model_id


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(B, C, L) -> (B, O, L): nn.Conv1d with kernel 3 and padding 1."""
    L = x.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    cols = np.stack([xp[:, :, k:k + L] for k in range(w.shape[2])], axis=-1)  # (B, C, L, 3)
    return np.einsum("bclk,ock->bol", cols, w, optimize=True) + b[None, :, None]


class StringSide(Rankings):
    """Loads the string side of a model file; `embed_strings`, the rankings and `model_id` as `Embedder`."""

    def __init__(self, blob: dict, path: str) -> None:
        try:
            self.config = ModelConfig.from_dict(blob["config"])
            self.alphabet = Alphabet(blob["alphabet"])
            self._nets = [n for n in (blob["string_net"], blob["image_net"], *blob.get("members", [])) if n is not None]
            self.method = method = method_of(self.config)
            # PHOC: the query's PHOC; both: its PHOC beside the string CNN's vector
            self.phoc = PHOC(self.alphabet.symbols, self.config.phoc_bigrams) if method.phoc else None
            self.ranking = method.ranking(self.config.dim, fusion_weights(blob, path))
            net = blob["string_net"]
            if method.lsde:
                convs = sorted((k for k in net if k.startswith("conv.") and k.endswith(".weight")),
                               key=lambda k: int(k.split(".")[1]))
                self._convs = [(net[k], net[k[:-6] + "bias"]) for k in convs]
                self._fc = [(net["fc.0.weight"], net["fc.0.bias"]), (net["fc.2.weight"], net["fc.2.bias"])]
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelError(f"{path}: damaged model file ({type(e).__name__}: {str(e)[:80]})") from None
        self.calibration = check_calibration(blob.get("calibration"))
        self.reading_scale = check_scale(blob.get("reading_scale"))
        self.norm = TextNorm(self.config.lowercase, self.config.alnum_only)
        self.dim = self.method.vector_dim(self.config.dim, self.phoc.dim if self.phoc else 0)
        self._id = ""

    @property
    def fused(self) -> bool:
        return self.method.fused

    @classmethod
    def load(cls, path: str | Path) -> "StringSide":
        return cls(load_file(path, "model", tensors=False), str(path))

    def embed_strings(self, words: list[str]) -> np.ndarray:
        """Words (normalised here) -> (N, dim) float32, as `Embedder.embed_strings`."""
        words = [self.norm(w) for w in words]
        if not self.method.lsde:
            return self.phoc.encode(words).astype(np.float32)
        x = self.alphabet.onehot(words, self.config.max_len, True, self.config.string_both_ends)
        for w, b in self._convs:
            x = np.maximum(_conv1d(x, w, b), 0.0)
        x = x.reshape(len(words), -1)
        (w1, b1), (w2, b2) = self._fc
        vecs = (np.maximum(x @ w1.T + b1, 0.0) @ w2.T + b2).astype(np.float32)
        if self.fused:
            return np.hstack([vecs, self.phoc.encode(words)]).astype(np.float32)
        return vecs

    def model_id(self) -> str:
        """The hash `Embedder.model_id` gives, from the same weights."""
        if not self._id:
            self._id = model_id(self._nets, self.ranking.weights if self.fused else None, self.config.image_views)
        return self._id

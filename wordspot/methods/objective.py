"""What a model's image CNN learns, one class per kind: its loss in the image stage, and the vectors it brings
to the joint stage with the terms it keeps learning there.

Each method's kinds are in its folder's `pytorch.py` (`phoc`: `Attributes`; `lsde` and `both`: `Regression`,
`Reading`); an LSDE model's PHOC head (`PHOCHead`, a training signal for "lsde", half of the ranking for "both")
adds its term to either LSDE kind. `objective_kind` asks the model's method for its kind.
"""

from __future__ import annotations

from importlib import import_module

import torch
import torch.nn.functional as F

from wordspot.config import TrainConfig
from wordspot.model.embedder import Embedder


class PHOCHead:
    """The weighted BCE of an LSDE model's PHOC head against the words' PHOC (0 without a head)."""

    def __init__(self, emb: Embedder, texts: list[str]) -> None:
        self.weight = emb.config.phoc_weight if emb.aux_phoc is not None else 0.0
        self.targets = torch.from_numpy(emb.aux_phoc.encode(texts)).to(emb.device) if self.weight else None

    def __call__(self, logits: torch.Tensor | None, idx) -> torch.Tensor | float:
        if self.targets is None:
            return 0.0
        return self.weight * F.binary_cross_entropy_with_logits(logits, self.targets[idx])


class Objective:
    """An image CNN's training objective over `texts`, the normalised words of the training images."""

    clip = 0.0  # gradient norm limit in the image stage; 0: none

    def __init__(self, emb: Embedder, texts: list[str], cfg: TrainConfig) -> None:
        self.emb, self.texts, self.cfg = emb, texts, cfg
        self.phoc_head = PHOCHead(emb, texts)

    @staticmethod
    def usable(emb: Embedder, texts: list[str]) -> list[int]:
        """The indices of the words this kind can learn from."""
        return list(range(len(texts)))

    def image_loss(self, x: torch.Tensor, widths: torch.Tensor, idx) -> torch.Tensor:
        """Stage 2: the loss of a batch (B, 1, H, W) of the training images `idx`."""
        raise NotImplementedError

    def joint(self, x: torch.Tensor, widths: torch.Tensor, idx) -> tuple[torch.Tensor, torch.Tensor | float]:
        """Stage 3: the batch's (B, dim) LSDE vectors, and the loss of what the CNN keeps learning."""
        raise NotImplementedError



def objective_kind(emb: Embedder) -> type[Objective]:
    """The kind of objective of a model's image CNN, as its method says."""
    return import_module(emb.method.torch_module).objective_kind(emb)

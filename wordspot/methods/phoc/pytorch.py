"""The PHOC method in PyTorch: the image CNN predicts the word's PHOC attributes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wordspot.config import TrainConfig
from wordspot.methods.objective import Objective
from wordspot.model.embedder import Embedder


class Attributes(Objective):
    """The PHOC baseline: sigmoid cross-entropy of the predicted attributes (no joint stage)."""

    def __init__(self, emb: Embedder, texts: list[str], cfg: TrainConfig) -> None:
        super().__init__(emb, texts, cfg)
        self.targets = torch.from_numpy(emb.phoc.encode(texts)).to(emb.device)

    def image_loss(self, x, widths, idx):
        return F.binary_cross_entropy_with_logits(self.emb.image_net(x, widths), self.targets[idx])



def objective_kind(emb: Embedder) -> type[Objective]:
    return Attributes

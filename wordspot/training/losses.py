"""LSDE losses: Euclidean distances regressed to Levenshtein distances."""

from __future__ import annotations

import Levenshtein
import torch
from torch import nn


def levenshtein_matrix(a: list[str], b: list[str]) -> torch.Tensor:
    """(len(a), len(b)) float tensor of edit distances."""
    return torch.tensor([[Levenshtein.distance(x, y) for y in b] for x in a], dtype=torch.float32)


def levenshtein_pairs(a: list[str], b: list[str]) -> torch.Tensor:
    """(N,) float tensor: the distance of each aligned pair (a[i], b[i])."""
    return torch.tensor([Levenshtein.distance(x, y) for x, y in zip(a, b)], dtype=torch.float32)


def euclidean(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) distances, with a gradient that stays finite at zero distance."""
    sq = (x.unsqueeze(1) - y.unsqueeze(0)).pow(2).sum(-1)
    return (sq + 1e-8).sqrt()


class PairLoss(nn.Module):
    """L = (||f(a) - f(b)||_2 - lev(a, b))^2 averaged over aligned pairs (the siamese loss)."""

    def forward(self, fa: torch.Tensor, fb: torch.Tensor, lev: torch.Tensor) -> torch.Tensor:
        dist = ((fa - fb).pow(2).sum(-1) + 1e-8).sqrt()  # (N,)
        return (dist - lev).pow(2).mean()


class AllPairsLoss(nn.Module):
    """The same regression over all pairs between two sets; `symmetric` counts each pair once."""

    def forward(self, x: torch.Tensor, y: torch.Tensor, lev: torch.Tensor, symmetric: bool = False) -> torch.Tensor:
        err = (euclidean(x, y) - lev).pow(2)  # (N, M)
        if symmetric:
            iu = torch.triu_indices(len(x), len(y), offset=1, device=x.device)
            err = err[iu[0], iu[1]]
        return err.mean()


class JointLoss(nn.Module):
    """Stage 3: string-string, image-string and image-image distances all track Levenshtein."""

    def __init__(self, w_ss: float = 1.0, w_is: float = 1.0, w_ii: float = 1.0) -> None:
        super().__init__()
        self.w_ss, self.w_is, self.w_ii = w_ss, w_is, w_ii
        self.pairs = AllPairsLoss()

    def forward(self, img: torch.Tensor, txt: torch.Tensor, lev: torch.Tensor) -> dict[str, torch.Tensor]:
        """img, txt: (B, D) for the same B words; lev: (B, B) distances of their transcriptions."""
        parts = {
            "ss": self.pairs(txt, txt, lev, symmetric=True),
            "is": self.pairs(img, txt, lev),
            "ii": self.pairs(img, img, lev, symmetric=True),
        }
        parts["total"] = self.w_ss * parts["ss"] + self.w_is * parts["is"] + self.w_ii * parts["ii"]
        return parts

"""The image batches of a stage: width-bucketed, a function of (seed, epoch, batch size)."""

from __future__ import annotations

import math

import numpy as np


class WidthBatches:
    """The sample indices of each step. Each epoch shuffles, sorts runs of 16 batches by width and shuffles the
    batches, so that a batch holds words of similar width: padding, which costs as much as ink, drops about 4x.

    One object per stage, made with that stage's batch size: batches are never shared between stages.
    """

    def __init__(self, widths: np.ndarray, batch: int, seed: int) -> None:
        self.widths, self.batch, self.seed = np.asarray(widths), batch, seed
        self.per_epoch = math.ceil(len(self.widths) / batch)
        self._epoch, self._batches = None, []

    def __call__(self, step: int) -> np.ndarray:
        epoch, k = divmod(step, self.per_epoch)
        if self._epoch != epoch:
            b = self.batch
            rng = np.random.default_rng([self.seed, epoch])
            perm = rng.permutation(len(self.widths))
            chunks = [perm[i:i + 16 * b] for i in range(0, len(perm), 16 * b)]
            ordered = np.concatenate([c[np.argsort(self.widths[c], kind="stable")] for c in chunks])
            batches = [ordered[i:i + b] for i in range(0, len(ordered), b)]
            self._epoch, self._batches = epoch, [batches[i] for i in rng.permutation(len(batches))]
        return self._batches[k]

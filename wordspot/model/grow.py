"""A trained model given more symbols, to fine-tune on a collection whose words use letters it never saw.

Three kinds of layer depend on the alphabet: the string CNN's input rows (a row per symbol, twice with
`string_both_ends`), the reader's output classes (a class per symbol, then the CTC blank) and a PHOC output
(attributes per symbol at each level, then the bigrams). Every weight of an old symbol keeps its value at
the symbol's new place (the alphabet is sorted, so places shift); a new symbol's input rows start at zero
(the string CNN sees it as it saw an unknown symbol) and its reader class starts unlikely, so the grown
model ranks the old words exactly as before until fine-tuning teaches it the new ones.
"""

from __future__ import annotations

import numpy as np
import torch

from wordspot.data.text import Alphabet
from wordspot.methods.phoc.base import PHOC
from wordspot.model.modelfile import ModelError

NEW_CLASS_BIAS = -10.0  # a new symbol's reader class: e^-10 of the probability mass before fine-tuning


def _phoc_places(old: PHOC, new: PHOC) -> np.ndarray:
    """For each attribute of `old`, its index in `new` (same levels and bigrams, more unigrams)."""
    places, n = [], 0  # n: where the level starts in `new`
    for level in old.levels:
        for r in range(level):
            places += [n + r * len(new.unigrams) + new.unigrams.index(c) for c in old.unigrams]
        n += level * len(new.unigrams)
    places += [n + i for i in range(len(old.bigrams) * (old.bigram_level if old.bigrams else 0))]
    return np.asarray(places, np.int64)


def with_symbols(emb, symbols: set[str]):
    """A copy of the model `emb` (an Embedder) whose alphabet also holds `symbols`; `emb` when it has them."""
    new = sorted(set(symbols) - set(emb.alphabet.symbols))
    if not new:
        return emb
    grown = type(emb)(emb.config, Alphabet(emb.alphabet.symbols + new), with_image=emb.image_net is not None,
                      device=emb.device, fusion=emb.ranking.weights if emb.fused else None)
    old_a, new_a = emb.alphabet.symbols, grown.alphabet.symbols
    at = np.asarray([new_a.index(s) for s in old_a], np.int64)
    # each alphabet-dependent size of the old model -> where its entries go in the new one
    maps = {len(old_a): at, 2 * len(old_a): np.r_[at, at + len(new_a)], len(old_a) + 1: np.r_[at, len(new_a)]}
    phoc_old, phoc_new = emb.phoc or emb.aux_phoc, grown.phoc or grown.aux_phoc
    if phoc_old is not None:
        if phoc_old.dim in maps:
            raise ModelError("cannot grow this model's alphabet: its PHOC size equals another alphabet-sized layer's")
        maps[phoc_old.dim] = _phoc_places(phoc_old, phoc_new)
    for old_net, new_net in zip(emb.nets(), grown.nets()):
        target = new_net.state_dict()
        for key, value in old_net.state_dict().items():
            fresh = target[key]
            if fresh.shape == value.shape:
                target[key] = value.clone()
                continue
            axis = next(i for i, (a, b) in enumerate(zip(value.shape, fresh.shape)) if a != b)
            if value.shape[axis] not in maps:
                raise ModelError(f"cannot grow this model's alphabet: {key} has an unexpected shape")
            if key.endswith("bias") or axis == 1:  # a new class unlikely, a new input row silent
                fresh = torch.full_like(fresh, NEW_CLASS_BIAS if key.endswith("bias") else 0.0)
            index = torch.as_tensor(maps[value.shape[axis]], device=fresh.device)
            target[key] = fresh.index_copy(axis, index, value)
        new_net.load_state_dict(target)
    grown.calibration = emb.calibration
    return grown

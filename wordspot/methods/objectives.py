"""What a model's image CNN learns, one class per kind: its loss in the image stage, and the
vectors it brings to the joint stage with the terms it keeps learning there.

`Attributes`: the PHOC method's CNN predicts the PHOC attributes of the word. `Regression`: an LSDE
CNN regresses the frozen string CNN's vector of the word. `Reading`: an LSDE reader learns to read
(CTC), and its soft reading goes through the string CNN. An LSDE model's PHOC head (`PHOCHead`:
a training signal for "lsde", half of the ranking for "both") adds its term to either LSDE kind.
`objective_kind` picks a model's; how each method ranks is in rankings.py.
"""

from __future__ import annotations

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


class Attributes(Objective):
    """The PHOC baseline: sigmoid cross-entropy of the predicted attributes (no joint stage)."""

    def __init__(self, emb: Embedder, texts: list[str], cfg: TrainConfig) -> None:
        super().__init__(emb, texts, cfg)
        self.targets = torch.from_numpy(emb.phoc.encode(texts)).to(emb.device)

    def image_loss(self, x, widths, idx):
        return F.binary_cross_entropy_with_logits(self.emb.image_net(x, widths), self.targets[idx])


class Regression(Objective):
    """LSDE's image CNN regresses the frozen string CNN's vectors: Euclidean loss, BCE on their
    sigmoid ("bce"), or Euclidean plus a cross-entropy that makes the image's own word the nearest of
    all training words ("softmax")."""

    def __init__(self, emb: Embedder, texts: list[str], cfg: TrainConfig) -> None:
        super().__init__(emb, texts, cfg)
        self.targets = self._string_space(texts)
        if cfg.image_loss == "softmax":
            lexicon = {t: i for i, t in enumerate(sorted(set(texts)))}
            self.anchors = self._string_space(list(lexicon))  # (words, dim)
            self.word_of = torch.tensor([lexicon[t] for t in texts], device=emb.device)

    def _string_space(self, words: list[str]) -> torch.Tensor:
        emb = self.emb
        return torch.from_numpy(emb.ranking.space(emb.embed_strings(words), images=False)).to(emb.device)

    def _outputs(self, x, widths, idx):
        if self.emb.aux_phoc is None:
            return self.emb.image_net(x, widths), 0.0
        out, logits = self.emb.image_net(x, widths, aux=True)
        return out, self.phoc_head(logits, idx)

    def image_loss(self, x, widths, idx):
        out, head = self._outputs(x, widths, idx)
        tgt = self.targets[idx]
        if self.cfg.image_loss == "bce":
            return F.binary_cross_entropy_with_logits(out, torch.sigmoid(tgt)) + head
        loss = (out - tgt).pow(2).sum(1).mean()
        if self.cfg.image_loss == "softmax":
            logits = -torch.cdist(out, self.anchors).pow(2)  # (B, words)
            loss = loss + F.cross_entropy(logits, self.word_of[idx])
        return loss + head

    def joint(self, x, widths, idx):
        return self._outputs(x, widths, idx)


class Reading(Objective):
    """An LSDE reader: CTC against the words in both stages (the reader keeps reading while the
    distances are tuned); its vectors are the string CNN's vectors of its soft reading."""

    clip = 5.0  # the LSTM's gradients spike early on

    @staticmethod
    def usable(emb: Embedder, texts: list[str]) -> list[int]:
        return [i for i, t in enumerate(texts) if not emb.alphabet.unknown(t)]  # CTC needs every symbol

    def _ctc(self, x, widths, idx):
        logp, frames, logits = self.emb.image_net(x, widths, aux=True)
        return logp, frames, ctc_loss(self.emb, logp, frames, [self.texts[i] for i in idx]) + self.phoc_head(logits, idx)

    def image_loss(self, x, widths, idx):
        return self._ctc(x, widths, idx)[2]

    def joint(self, x, widths, idx):
        logp, frames, kept = self._ctc(x, widths, idx)
        return self.emb.reading_vectors(logp, frames), kept


def objective_kind(emb: Embedder) -> type[Objective]:
    """The kind of objective of a model's image CNN."""
    if emb.phoc is not None:
        return Attributes
    return Reading if emb.reads else Regression


def ctc_loss(emb: Embedder, logp: torch.Tensor, frames: torch.Tensor, words: list[str]) -> torch.Tensor:
    """CTC loss of a reader's (T, B, A + 1) log-probabilities against normalised words."""
    index = emb.alphabet.index
    targets = torch.tensor([index[ch] for w in words for ch in w], dtype=torch.long)
    lengths = torch.tensor([len(w) for w in words], dtype=torch.long)
    # zero_infinity: a word longer than its image has frames cannot be aligned; it is skipped, not NaN
    return F.ctc_loss(logp, targets, frames.cpu(), lengths, blank=len(emb.alphabet), zero_infinity=True)

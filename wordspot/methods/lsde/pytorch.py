"""The LSDE method in PyTorch: an image CNN that reads (CTC, its soft reading through the string CNN) or
regresses the string CNN's vectors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wordspot.config import TrainConfig
from wordspot.methods.objective import Objective
from wordspot.model.embedder import Embedder


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
    return Reading if emb.reads else Regression


def ctc_loss(emb: Embedder, logp: torch.Tensor, frames: torch.Tensor, words: list[str]) -> torch.Tensor:
    """CTC loss of a reader's (T, B, A + 1) log-probabilities against normalised words."""
    index = emb.alphabet.index
    targets = torch.tensor([index[ch] for w in words for ch in w], dtype=torch.long)
    lengths = torch.tensor([len(w) for w in words], dtype=torch.long)
    # zero_infinity: a word longer than its image has frames cannot be aligned; it is skipped, not NaN
    return F.ctc_loss(logp, targets, frames.cpu(), lengths, blank=len(emb.alphabet), zero_infinity=True)

"""A trained model: both networks, the alphabet and the preprocessing, saved as one file."""

from __future__ import annotations

import copy
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from wordspot.config import ModelConfig
from wordspot.data.imaging import collate, image_view
from wordspot.data.text import Alphabet, TextNorm
from wordspot.files import save_tree
from wordspot.methods import method_of
from wordspot.methods.phoc.base import PHOC
from wordspot.methods.ranking import Rankings
from wordspot.model.calibration import check as check_calibration
from wordspot.model.calibration import check_scale
from wordspot.model.modelfile import (
    FORMAT_VERSION,
    LINE_READER,
    ModelError,
    build_from_file,
    fusion_weights,
    model_id,
)
from wordspot.model.networks import ImageCNN, ReaderCNN, StringCNN, best_paths, soft_onehot


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for, but PyTorch sees no CUDA device")
    if device not in ("cpu", "cuda"):
        raise ModelError(f"unknown device {device!r} (use auto, cpu or cuda)")
    return torch.device(device)


class Embedder(Rankings):
    """Maps words and word images into one space, and measures distances in it.

    LSDE: both sides are vectors whose Euclidean distance tracks Levenshtein distance. PHOC: a word
    is its binary PHOC and an image the logits of its predicted attributes. Both: the two side by
    side. Compare them with `string_distances` and `image_distances`, which ask the method's
    ranking (rankings.py). An ensemble (`ensemble`) averages the vectors of several image CNNs.
    """

    def __init__(self, config: ModelConfig, alphabet: Alphabet, with_image: bool = True,
                 device: str | torch.device = "cpu", fusion: tuple[float, float] | None = None) -> None:
        self.config = config
        self.alphabet = alphabet
        self.norm = TextNorm(config.lowercase, config.alnum_only)
        self.method = method_of(config)
        self.phoc: PHOC | None = None
        self.string_net: StringCNN | None = None
        if not self.method.lsde:
            # the string side is the fixed PHOC of the word; the image CNN predicts its attributes
            self.phoc = PHOC(alphabet.symbols, config.phoc_bigrams)
        else:
            rows = len(alphabet) * (2 if config.string_both_ends else 1)
            self.string_net = StringCNN(rows, config.max_len, config.dim, config.string_channels,
                                        config.string_hidden, config.string_layers)
        # the PHOC head of an LSDE model: a training signal ("lsde") or half of the ranking ("both")
        use_aux = config.phoc_weight > 0 and self.phoc is None
        self.aux_phoc = PHOC(alphabet.symbols, config.phoc_bigrams) if use_aux else None
        self.ranking = self.method.ranking(config.dim, fusion)
        # a vector as stored in an index: LSDE's (dim), PHOC's attributes, or the two side by side
        self.dim = (self.phoc.dim if self.phoc else config.dim) + (self.aux_phoc.dim if self.fused else 0)
        self.image_net = self._image_cnn() if with_image else None
        self.members: list[ImageCNN] = []  # an ensemble's further image CNNs; never trained here
        self.to(device)

    @property
    def fused(self) -> bool:
        """Whether vectors hold an LSDE and a PHOC part, ranked by both."""
        return self.method.fused

    @property
    def reads(self) -> bool:
        """Whether the image side is a CTC reader (see ReaderCNN)."""
        return self.config.reads

    def _image_cnn(self) -> ImageCNN | ReaderCNN:
        c = self.config
        if self.reads:
            return ReaderCNN(len(self.alphabet) + 1, c.image_height, tuple(c.image_channels), tuple(c.image_blocks),
                             aux_dim=self.aux_phoc.dim if self.aux_phoc else 0, aux_hidden=c.image_hidden,
                             aux_branch=c.phoc_branch)
        return ImageCNN(self.phoc.dim if self.phoc else c.dim, tuple(c.image_channels), tuple(c.image_blocks), hidden=c.image_hidden,
                        aux_dim=self.aux_phoc.dim if self.aux_phoc else 0)

    def to(self, device: str | torch.device) -> "Embedder":
        self.device = torch.device(device)
        for net in self.nets():
            net.to(self.device)
        return self

    def nets(self) -> list[torch.nn.Module]:
        return [n for n in (self.string_net, self.image_net, *self.members) if n is not None]

    def encode(self, words: list[str], warn: bool = True) -> torch.Tensor:
        """Normalised words -> (N, alphabet, max_len) one-hot tensor on the model's device."""
        x = self.alphabet.onehot(words, self.config.max_len, warn, self.config.string_both_ends)
        return torch.from_numpy(x).to(self.device)

    @torch.no_grad()
    def embed_strings(self, words: list[str], batch_size: int = 1024) -> np.ndarray:
        """Words (normalised here) -> (N, dim) float32."""
        words = [self.norm(w) for w in words]
        if self.phoc is not None:
            return self.phoc.encode(words).astype(np.float32)
        self.string_net.eval()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = [self.string_net(self.encode(words[i:i + batch_size])).cpu().numpy()
                   for i in range(0, len(words), batch_size)]
        for w in {str(c.message): c for c in caught}.values():  # one warning per distinct message
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        vecs = np.concatenate(out) if out else np.zeros((0, self.config.dim), np.float32)
        if self.fused:
            return np.hstack([vecs, self.aux_phoc.encode(words)]).astype(np.float32)
        return vecs

    def embed_images(self, images: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Normalised images (see imaging.normalise) -> (N, dim) float32, in input order."""
        return self.embed_and_read(images, batch_size)[0]

    @torch.no_grad()
    def embed_and_read(self, images: list[np.ndarray], batch_size: int = 32) -> tuple[np.ndarray, list[str] | None]:
        """Normalised images -> (N, dim) float32 vectors, in input order, and what a reader reads in each
        (its best path in the first view; None for a model that does not read). A vector is the mean over
        the model's image views (config.image_views) and image CNNs (an ensemble's). (Batches of 32 ran faster on a
        2-core CPU than larger ones, whose activations outgrow the caches.)"""
        if self.image_net is None:
            raise ModelError("this model has no image network yet (only stage 1 was trained)")
        nets = [self.image_net, *self.members]
        for net in nets:
            net.eval()
        out = np.zeros((len(images), self.dim), np.float32)
        readings: list[str] | None = [""] * len(images) if isinstance(self.image_net, ReaderCNN) else None
        views = self.config.image_views
        for v, (stretch, margin) in enumerate(views):
            seen = [image_view(im, stretch, margin) for im in images]
            order = np.argsort([im.shape[1] for im in seen], kind="stable")  # similar widths pad less
            for i in range(0, len(order), batch_size):
                idx = order[i:i + batch_size]
                batch, widths = collate([seen[j] for j in idx])
                batch = batch.to(self.device)
                parts = [self._stored_vectors(batch, widths, net) for net in nets]
                out[idx] += torch.stack([p for p, _ in parts]).mean(0).cpu().numpy() / len(views)
                if readings is not None and v == 0:
                    for j, (classes, _) in zip(idx, best_paths(*parts[0][1])):
                        readings[j] = "".join(self.alphabet.symbols[c] for c in classes)
        return out, readings

    def _stored_vectors(self, batch: torch.Tensor, widths: torch.Tensor,
                        net: torch.nn.Module) -> tuple[torch.Tensor, tuple | None]:
        """(B, 1, H, W) -> (B, self.dim): `image_vectors`, and a fused model's PHOC logits beside them; and
        a reader's (log-probabilities, frames), else None."""
        if isinstance(net, ReaderCNN):
            logp, frames, *logits = net(batch, widths, aux=self.fused)
            vectors = self.reading_vectors(logp, frames)
            return torch.cat([vectors, *logits], 1), (logp, frames)
        if self.fused:
            return torch.cat(net(batch, widths, aux=True), 1), None
        return net(batch, widths), None

    def image_vectors(self, batch: torch.Tensor, widths: torch.Tensor,
                      net: torch.nn.Module | None = None) -> torch.Tensor:
        """(B, 1, H, W) batch -> (B, dim) vectors, with gradients: a reader's soft reading goes
        through the string CNN; any other image CNN gives its vector directly. (A fused model's
        PHOC logits are not among them: its PHOC head is trained by its own loss.)"""
        net = net or self.image_net
        if isinstance(net, ReaderCNN):
            return self.reading_vectors(*net(batch, widths))
        return net(batch, widths)

    def reading_vectors(self, logp: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """A reader's (T, B, A + 1) log-probabilities -> (B, dim): the string CNN's vector of its soft reading."""
        return self.string_net(soft_onehot(logp, frames, self.config.max_len, self.config.string_both_ends))

    def set_fusion(self, weights: tuple[float, float]) -> None:
        """A fused model's weights of its PHOC terms (QbS, QbE), as `rankings.choose_fusion` picks them."""
        self.ranking = self.method.ranking(self.config.dim, weights)

    @classmethod
    def ensemble(cls, models: list["Embedder"]) -> "Embedder":
        """Models of the same data -> one model whose image vectors are the mean of theirs (a PHOC model's
        logits; an LSDE model's vectors, and a fused model's PHOC logits beside them).

        LSDE vectors average only within one space: every image CNN regresses its own string CNN's, so
        LSDE models combine only when they share their string CNN (`train_ensemble` trains it once).
        The fusion weights and scores are the first model's until chosen again for the ensemble.
        """
        if not models or any(m.image_net is None for m in models):
            raise ModelError("an ensemble needs trained image networks")
        first = models[0]
        if any(asdict(m.config) != asdict(first.config) or m.alphabet.symbols != first.alphabet.symbols
               for m in models[1:]):
            raise ModelError("models to combine must share their configuration, alphabet and PHOC "
                             "(train them with the same settings on the same data)")
        if first.string_net is not None and not all(_same_weights(m.string_net, first.string_net) for m in models[1:]):
            raise ModelError("LSDE models combine only when they share one string CNN (each image CNN learns its "
                             "own string CNN's space): train them with --members, which trains it once")
        out = cls(first.config, first.alphabet, fusion=first.ranking.weights if first.fused else None)
        if first.string_net is not None:
            out.string_net.load_state_dict(first.string_net.state_dict())
        nets = [net for m in models for net in (m.image_net, *m.members)]
        out.image_net.load_state_dict(nets[0].state_dict())
        out.members = [copy.deepcopy(net) for net in nets[1:]]
        return out.to(first.device)

    def model_id(self) -> str:
        """A hash of the weights: an index remembers which model made it."""
        return model_id([{k: v.detach().cpu().numpy() for k, v in net.state_dict().items()} for net in self.nets()],
                        self.ranking.weights if self.fused else None, self.config.image_views)

    def state(self) -> dict:
        return {
            "kind": "model", "format_version": FORMAT_VERSION, "config": asdict(self.config),
            "alphabet": self.alphabet.symbols, "model_id": self.model_id(),
            "string_net": self.string_net.state_dict() if self.string_net is not None else None,
            "image_net": self.image_net.state_dict() if self.image_net is not None else None,
            "members": [net.state_dict() for net in self.members],
            "fusion": list(self.ranking.weights) if self.fused else None,
            "calibration": self.calibration,  # not in model_id: it scores hits, it does not rank them
            "reading_scale": self.reading_scale,  # not in model_id either: vectors and search forms stay
        }

    def save(self, path: str | Path, **info: object) -> None:
        """Save atomically; `info` (e.g. the stage and its validation score) is kept beside the weights."""
        save_tree({**self.state(), "info": info}, path)

    @classmethod
    def from_state(cls, blob: dict, device: str | torch.device = "cpu") -> "Embedder":
        if blob.get("reader") == LINE_READER:
            raise ModelError("a line reader, not a word model: index lines with it (wordspot index MODEL --data ...)")
        emb = cls(ModelConfig.from_dict(blob["config"]), Alphabet(blob["alphabet"]),
                  with_image=blob["image_net"] is not None, fusion=fusion_weights(blob))
        if emb.string_net is not None:
            emb.string_net.load_state_dict(blob["string_net"])
        if emb.image_net is not None:
            emb.image_net.load_state_dict(blob["image_net"])
        for sd in blob.get("members", []):
            emb.members.append(emb._image_cnn())
            emb.members[-1].load_state_dict(sd)
        emb.calibration = check_calibration(blob.get("calibration"))
        emb.reading_scale = check_scale(blob.get("reading_scale"))
        return emb.to(device)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "Embedder":
        """Load a model file, or the model.pt of a run folder."""
        return build_from_file(path, lambda blob: cls.from_state(blob, device))

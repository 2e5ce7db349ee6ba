"""What a trained model fits on labelled images (a validation set) and keeps in its model file: its hits'
scores, a reader's reading scale and a fused model's weights; `labelled_vectors` gives what any fit needs."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from wordspot.config import ModelConfig
from wordspot.data import Crop, ImageCache
from wordspot.errors import WordspotError
from wordspot.files import save_tree
from wordspot.model.embedder import Embedder
from wordspot.model.modelfile import load_file, model_info
from wordspot.training.trainer import texts_of


class Labelled(NamedTuple):
    """A labelled set embedded for a fit: image vectors, their texts, the distinct texts (the QbS queries)
    and their vectors, and what a reader read in each image (None for a model that does not read)."""

    images: np.ndarray
    texts: list[str]
    strings: np.ndarray
    queries: list[str]
    readings: list[str] | None


def labelled_vectors(emb: Embedder, samples: list[Crop], limit: int = 1500) -> Labelled:
    """The readable labelled images among the first `limit`, embedded (`Labelled`)."""
    kept, images = ImageCache(emb.config.image_height).load(samples[:limit])
    pairs = [(im, t) for im, t in zip(images, texts_of(kept, emb)) if t]
    if not pairs:
        raise WordspotError("no readable labelled images to fit on")
    texts = [t for _, t in pairs]
    queries = sorted(set(texts))
    vectors, readings = emb.embed_and_read([im for im, _ in pairs])
    return Labelled(vectors, texts, emb.embed_strings(queries), queries, readings)


def fit_scores(emb: Embedder, data: Labelled) -> None:
    """Fit, on a labelled set, the scale of a reader's example readings (`Rankings.reading_scale`), then the
    scores of the distances the model ranks by (calibration.py)."""
    from wordspot.model.calibration import calibrate, reading_scale
    emb.reading_scale = reading_scale(emb, data.images, data.texts, data.readings)
    emb.calibration = calibrate(emb, *data)


def calibrate_model(path: str | Path, samples: list[Crop], limit: int = 1500) -> Embedder:
    """Fit the scores of a model file (and a reader's reading scale) on labelled images, a validation set,
    and save them into the file; returns the model with them. The vectors and the model id do not change,
    so its indexes stay valid."""
    path = Path(path)
    path = path / "model.pt" if path.is_dir() else path
    emb = Embedder.load(path)
    fit_scores(emb, labelled_vectors(emb, samples, limit))
    blob = load_file(path, "model")
    blob["calibration"], blob["reading_scale"] = emb.calibration, emb.reading_scale
    save_tree(blob, path)
    return emb


def fit_on_validation(emb: Embedder, samples: list[Crop], limit: int = 1500) -> dict:
    """A fused model's weights chosen and its scores fitted on labelled images, embedded once (what training
    does at its end for an ensemble); returns what the model file's info keeps of the choice."""
    from wordspot.methods.both.base import choose_fusion
    data = labelled_vectors(emb, samples, limit)
    info = {}
    if emb.fused:
        chosen = choose_fusion(emb.ranking, data.images, data.texts, data.strings, data.queries)
        emb.set_fusion(chosen["weights"])
        info = {"fusion_qbs": chosen["weights"][0], "fusion_qbe": chosen["weights"][1],
                "val_qbs": chosen["qbs_map"], "val_qbe": chosen["qbe_map"]}
    fit_scores(emb, data)  # after the weights: scores are fitted to the distances
    return info


def set_views(path: str | Path, views: list, samples: list[Crop], out: str | Path, limit: int = 1500) -> Embedder:
    """A model file whose image side embeds `views` (ModelConfig.image_views), its fusion weights chosen and
    scores fitted again on labelled images (a validation set), saved to `out`. The views change the model's
    id, so the indexes `path` built stay with `path`; `out` must be another file, and its info names the id
    it was made from ("rechosen_from")."""
    path = Path(path)
    path = path / "model.pt" if path.is_dir() else path
    out = Path(out)
    if out.is_dir():
        raise WordspotError(f"{out}: is a folder; give a file name")
    if out.resolve() == path.resolve():
        raise WordspotError(f"{out}: give another file; the indexes {path} built need it as it is")
    emb = Embedder.load(path)
    was = emb.model_id()
    emb.config.image_views = ModelConfig.from_dict({**vars(emb.config), "image_views": views}).image_views
    info = {**model_info(path), **fit_on_validation(emb, samples, limit), "rechosen_from": was}
    emb.save(out, **info)
    return emb

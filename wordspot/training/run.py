"""A training run: the run folder, resuming it, and the stages a method trains, in order."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from wordspot.config import ModelConfig, TrainConfig
from wordspot.data import Crop
from wordspot.data.text import Alphabet, TextNorm
from wordspot.errors import TrainingInterrupted, WordspotError
from wordspot.files import atomic_write_text
from wordspot.methods import method_of
from wordspot.methods.base import STAGES
from wordspot.model.embedder import Embedder
from wordspot.model.grow import with_symbols
from wordspot.model.modelfile import ModelError, load_file, model_info
from wordspot.progress import Reporter
from wordspot.training import image_stage, joint_stage, string_stage
from wordspot.training.calibrate import calibrate_model
from wordspot.training.trainer import StageData, Trainer, seed_everything, texts_of

# each stage by name, as a run trains them
STAGE_RUNNERS = {"string": string_stage.run, "image": image_stage.run, "joint": joint_stage.run}

__all__ = ["STAGES", "TrainingInterrupted", "calibrate_model", "train"]


def _data_id(samples: list[Crop] | None) -> str:
    h = hashlib.sha256()
    for s in samples or []:
        h.update(f"{s.path}\t{s.text}\t{s.box}\n".encode())
    return h.hexdigest()[:16] if samples else ""


def _start_folder(out: Path, stages: tuple[str, ...], resume: bool, overwrite: bool) -> None:
    if not resume and not overwrite:
        done = [s for s in stages if (out / f"{s}.pt").exists()]
        if done:
            raise WordspotError(f"{out} already holds a trained {done[0]} stage: continue it with --resume, "
                                f"or train it again with --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    if overwrite and not resume:
        for stale in ("log.jsonl", "model.pt"):  # a new run: a new log, and no old model to beat
            (out / stale).unlink(missing_ok=True)


def _resume_state(out: Path, cfg: TrainConfig, stages: tuple[str, ...], train_set, data_id: str):
    """(config, stages left, last.pt's state or None when its stage had ended) of a run to continue."""
    state = load_file(out / "last.pt", "train-state")
    if state.get("data_id") and train_set and state["data_id"] != data_id:
        raise WordspotError(f"--resume: the training data differs from the data {out} was started with "
                            f"({len(train_set)} images now); give the same --data and --split")
    cfg = TrainConfig.from_dict(state["config"])
    done_through = STAGES.index(state["stage"]) + (1 if state["done"] else 0)
    stages = tuple(s for s in stages if STAGES.index(s) >= STAGES.index(state["stage"]))
    if state["done"]:
        stages = tuple(s for s in stages if STAGES.index(s) >= done_through)
        state = None
    return cfg, stages, state


def _init_model(init: str | Path, cfg: TrainConfig, stages: tuple[str, ...], train_set) -> tuple:
    """A trained model to fine-tune: its own architecture and alphabet, and no string stage."""
    start = Embedder.load(init)
    # its networks' settings, but the run's views: they change no weight, and a starter written before
    # views existed would otherwise pass its single view on
    start.config.image_views = cfg.model.image_views
    cfg.model = ModelConfig.from_dict(asdict(start.config))
    stages = tuple(s for s in stages if s != "string") or ("image",)
    if cfg.minutes and not (cfg.image_minutes or cfg.joint_minutes):  # the string stage's share goes to the others
        share = method_of(cfg.model).budget(cfg.minutes)
        rest = share["image"] + share["joint"]
        cfg.image_minutes, cfg.joint_minutes = (cfg.minutes * share[s] / rest for s in ("image", "joint"))
    new = {ch for s in train_set or [] for ch in start.norm(s.text)} - set(start.alphabet.symbols)
    if new:
        if start.members:
            raise ModelError(f"--init {init}: an ensemble cannot learn the {len(new)} symbol(s) the training words "
                             f"add ({''.join(sorted(new))[:40]!r}); start from one of its members")
        warnings.warn(f"--init {init}: the training words use {len(new)} symbol(s) the model does not know "
                      f"({''.join(sorted(new))[:40]!r}); they are added to its alphabet and learned from here",
                      stacklevel=3)
        start = with_symbols(start, new)
    return start, stages


def _method_start(trainer: Trainer, stages: tuple[str, ...], train_set, fresh: bool) -> tuple:
    """The stages the run's method has, and for a method without a string CNN its untrained model."""
    cfg, method = trainer.cfg, method_of(trainer.cfg.model)
    if method.lsde:
        return stages, None
    if not set(stages) & set(method.stages):
        raise ValueError(f"the {method.name} method trains only the {' and '.join(method.stages)} stage")
    if not fresh:
        return method.stages, None
    texts = [w for w in (TextNorm(cfg.model.lowercase, cfg.model.alnum_only)(s.text) for s in train_set or []) if w]
    if not texts:
        raise ValueError(f"the {method.name} method needs training images with transcriptions (--data)")
    method.fit_settings(cfg.model, texts)
    return method.stages, Embedder(cfg.model, Alphabet.from_words(texts), device=trainer.device)


def _finish(trainer: Trainer, emb: Embedder, valid_set) -> None:
    """Warn of a model near chance, and calibrate its scores on the validation set."""
    out = trainer.out
    kept_stage = model_info(out / "model.pt").get("stage")
    if not valid_set or kept_stage not in ("image", "joint"):  # a model that spots words, not a string CNN alone
        return
    _warn_if_near_chance(out / "model.pt", [t for t in texts_of(valid_set, emb) if t])
    try:
        kept = calibrate_model(out / "model.pt", valid_set, trainer.cfg.val_limit)
        trainer.rep.log(f"scores calibrated on {len(valid_set[:trainer.cfg.val_limit])} validation images "
                        f"(saved in {out / 'model.pt'})")
        if kept.model_id() == emb.model_id():
            emb.calibration, emb.reading_scale = kept.calibration, kept.reading_scale
    except (WordspotError, ValueError) as e:  # a validation set with one word: hits get no score
        trainer.rep.log(f"scores not calibrated: {e}")


def train(cfg: TrainConfig, out: str | Path, *, train_set: list[Crop] | None = None,
          valid_set: list[Crop] | None = None, words: list[str] | None = None,
          stages: tuple[str, ...] = STAGES, resume: bool = False, overwrite: bool = False,
          string_model: str | Path | None = None, init: str | Path | None = None,
          reporter: Reporter | None = None) -> Embedder:
    """Run `stages` in order into the run folder `out`; returns the final model. With `init`, a
    trained model is fine-tuned: its networks and settings are the start, the string stage is skipped.

    `words` is the string stage's lexicon (default: the training transcriptions). With `resume`,
    continue from out/last.pt: its stage from the saved step, then the stages after it. A stage
    whose checkpoint is already in `out` is not trained again unless `overwrite`.
    """
    out = Path(out)
    cfg = TrainConfig.from_dict(asdict(cfg))  # a copy: values derived from the data never reach the caller's
    _start_folder(out, stages, resume, overwrite)
    state, data_id = None, _data_id(train_set)
    if resume:
        cfg, stages, state = _resume_state(out, cfg, stages, train_set, data_id)
    emb = None
    if init is not None and not state:
        emb, stages = _init_model(init, cfg, stages, train_set)
    atomic_write_text(out / "config.json", json.dumps(asdict(cfg), indent=2))
    seed_everything(cfg.seed)
    trainer = Trainer(cfg, out, reporter)
    trainer.data_id = data_id
    if state:
        trainer.history = state.get("history", [])
    emb = emb.to(trainer.device) if emb is not None else None
    resuming_first = bool(state) and state["stage"] == method_of(cfg.model).stages[0]
    stages, new = _method_start(trainer, stages, train_set, fresh=emb is None and not resuming_first)
    emb = new if new is not None else emb
    data = StageData(train_set, valid_set, list(words) if words else [s.text for s in (train_set or []) +
                                                                          (valid_set or [])])
    for stage in stages:
        resume_here = state if state and state["stage"] == stage else None
        if stage != "string" and not train_set:
            raise ValueError(f"the {stage} stage needs training images (--data)")
        if stage != "string" and emb is None and not resume_here:
            emb = Embedder.load(string_model or (out / ("string.pt" if stage == "image" else "image.pt")),
                                trainer.device)
        emb = STAGE_RUNNERS[stage](trainer, emb, data, resume_here)
    if emb is None:
        raise ValueError("nothing to do: every stage asked for is already done (see last.pt)")
    _finish(trainer, emb, valid_set)
    return emb


def _warn_if_near_chance(path: Path, texts: list[str]) -> None:
    """Say so when a finished model ranks its validation images little better than a random order
    would (the mean AP of random rankings: each query's share of relevant images)."""
    score = model_info(path).get("val_score")
    counts = Counter(texts)
    if not isinstance(score, float) or not math.isfinite(score) or len(counts) < 2:
        return
    chance = float(np.mean([c / len(texts) for c in counts.values()]))
    if score < chance + 0.25 * (1.0 - chance):
        warnings.warn(f"{path}: validation mAP {score:.3f} is near chance ({chance:.3f}): the model has learned "
                      f"little; train longer (--minutes), on more data, or check the transcriptions", stacklevel=3)

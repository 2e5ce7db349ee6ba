"""The loop every training stage runs (`Trainer.loop` over a `Stage`), and what the stages share: the run
folder's checkpoints and log, the training images, validation by spotting mAP."""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from wordspot.config import TrainConfig
from wordspot.data import Crop, ImageCache
from wordspot.data.imaging import augment, collate
from wordspot.errors import TrainingInterrupted, WordspotError
from wordspot.evaluation.metrics import spotting_scores
from wordspot.files import atomic_path, save_tree
from wordspot.methods.both.base import choose_fusion
from wordspot.methods.objective import Objective, objective_kind
from wordspot.model.embedder import Embedder, resolve_device
from wordspot.model.modelfile import FORMAT_VERSION, model_info
from wordspot.progress import Reporter
from wordspot.training.pairs import PairSampler
from wordspot.training.schedules import warmup_cosine


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _diverged(stage: str, step: int, why: str, out: Path) -> WordspotError:
    return WordspotError(f"training stopped at {stage} step {step + 1}: {why}; lower the learning rate or the "
                         f"loss weights (checkpoints kept so far in {out} are unchanged)")


def texts_of(samples: list[Crop], emb: Embedder) -> list[str]:
    return [emb.norm(s.text) for s in samples]


@dataclass
class Stage:
    """What a training stage gives the loop (`Trainer.loop`): its optimizer and base learning rate,
    its length (steps, and minutes when not 0), the loss of step n (batches drawn inside), how it
    validates (a dict with "score", higher is better) and how often, and what else a resume restores."""

    name: str
    opt: torch.optim.Optimizer
    lr: float
    total: int
    minutes: float
    loss: Callable[[int], torch.Tensor]
    validate: Callable[[], dict]
    val_every: int
    clip: float = 0.0  # gradient norm limit; 0: none
    schedule: Callable[[float, float], float] = warmup_cosine  # the rate at a point of the stage (0 to 1)
    sampler: PairSampler | None = None


class Trainer:
    """Runs the stages into one run folder: string.pt, image.pt, joint.pt, model.pt, last.pt."""

    def __init__(self, cfg: TrainConfig, out: str | Path, reporter: Reporter | None = None) -> None:
        self.cfg = cfg
        self.out = Path(out)
        self.rep = reporter or Reporter()
        self.device = resolve_device(cfg.device)
        self.cache = ImageCache(cfg.model.image_height)
        self.history: list[dict] = []
        self.data_id = ""  # which training images the run uses: a resume must give the same

    # ---- data -------------------------------------------------------------------------------
    def images(self, samples: list[Crop], emb: Embedder, what: str) -> tuple[list[np.ndarray], list[str]]:
        """Readable images with a non-empty normalised transcription, and those transcriptions."""
        kept, images = self.cache.load(samples)
        texts = texts_of(kept, emb)
        pairs = [(im, t) for im, t in zip(images, texts) if t and len(t) <= emb.config.max_len]
        if not pairs:
            raise WordspotError(f"no usable {what} images (none readable with a non-empty transcription)")
        return [p[0] for p in pairs], [p[1] for p in pairs]

    # ---- checkpoints ------------------------------------------------------------------------
    def _save_last(self, stage: str, step: int, elapsed: float, best: float, emb: Embedder,
                   opt: torch.optim.Optimizer, sampler: PairSampler | None, done: bool) -> None:
        save_tree({
            "kind": "train-state", "format_version": FORMAT_VERSION, "stage": stage, "step": step,
            "elapsed": elapsed, "best": best, "done": done, "model": emb.state(), "optimizer": opt.state_dict(),
            "torch_rng": torch.get_rng_state(), "sampler": sampler.state() if sampler else None,
            "config": asdict(self.cfg), "history": self.history, "data_id": self.data_id,
        }, self.out / "last.pt")

    def _log(self, stage: str, step: int, metrics: dict) -> None:
        row = {"stage": stage, "step": step, **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}}
        self.history.append(row)
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    # ---- the shared loop ---------------------------------------------------------------------
    def loop(self, st: "Stage", emb: Embedder, resume: dict | None) -> None:
        """Step until `st.total` steps or `st.minutes` pass; validate, keep the best, save on Ctrl-C.

        One step: the learning rate from the schedule, the stage's loss of this step, backward,
        (clipped gradients), the optimizer's step. Everything else a stage does is in its `Stage`.
        """
        stage, opt, sampler, total = st.name, st.opt, st.sampler, st.total
        step, elapsed, best = 0, 0.0, -math.inf
        if resume:
            step, elapsed, best = resume["step"], resume["elapsed"], resume["best"]
            opt.load_state_dict(resume["optimizer"])
            torch.set_rng_state(resume["torch_rng"])
            if sampler and resume["sampler"]:
                sampler.set_state(resume["sampler"])
        budget = st.minutes * 60.0 if st.minutes > 0 else math.inf
        t0 = time.time() - elapsed
        self.rep.start(stage, total, budget if math.isfinite(budget) else None)
        self.rep.advance(step)
        metrics: dict = {}
        try:
            while step < total and time.time() - t0 < budget:
                progress = max(step / total, (time.time() - t0) / budget)
                for g in opt.param_groups:
                    g["lr"] = st.schedule(st.lr, progress)
                loss_t = st.loss(step)
                loss = loss_t.item()
                if not math.isfinite(loss):  # before backward: the weights stay as the last step left them
                    raise _diverged(stage, step, f"the loss is {loss}", self.out)
                opt.zero_grad(set_to_none=True)
                loss_t.backward()
                if st.clip:
                    torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], st.clip)
                opt.step()
                step += 1
                metrics["loss"] = loss
                last = step >= total or time.time() - t0 >= budget
                if step % st.val_every == 0 or last:
                    if not all(torch.isfinite(p).all() for g in opt.param_groups for p in g["params"]):
                        raise _diverged(stage, step, "a step made weights infinite or NaN", self.out)
                    scores = st.validate()
                    metrics.update({k: v for k, v in scores.items() if k != "score"})
                    self._log(stage, step, {"loss": loss, **scores, "minutes": (time.time() - t0) / 60})
                    # a tie keeps the later checkpoint: a validation set the model ranks perfectly
                    # cannot tell them apart, and the later one has had more of the schedule
                    # (benchmarks/README.md: GW cv3 tied from minute 6.5 of 28 and kept minute 6.5)
                    if scores["score"] >= best or not math.isfinite(best):  # NaN scores: keep the latest
                        best = scores["score"]
                        emb.save(self.out / f"{stage}.pt", stage=stage, val_score=float(best))
                    self._save_last(stage, step, time.time() - t0, best, emb, opt, sampler, done=False)
                self.rep.advance(1, **metrics)
        except KeyboardInterrupt:
            self._save_last(stage, step, time.time() - t0, best, emb, opt, sampler, done=False)
            self.rep.stop()
            raise TrainingInterrupted(f"interrupted at {stage} step {step}; state saved to {self.out / 'last.pt'}")
        self.rep.stop()
        self._save_last(stage, step, time.time() - t0, best, emb, opt, sampler, done=True)
        self._keep_best(stage, f"{stage}: {step} steps in {(time.time() - t0) / 60:.1f} min; best validation "
                               f"score {best:.4f}", best)

    def _keep_best(self, stage: str, summary: str, best: float) -> None:
        """model.pt: the stage's best checkpoint, unless an earlier stage's model scored higher."""
        previous = model_info(self.out / "model.pt")
        if stage != "string" and previous.get("stage") in ("image", "joint") and previous["val_score"] > best:
            # spotting mAP is comparable across the image and joint stages: keep the better model
            self.rep.log(f"{summary}; the {previous['stage']} stage's model scored higher "
                         f"({previous['val_score']:.4f}) and stays in {self.out / 'model.pt'}")
            return
        with atomic_path(self.out / "model.pt") as tmp:
            shutil.copyfile(self.out / f"{stage}.pt", tmp)
        self.rep.log(f"{summary}; model saved to {self.out / 'model.pt'}")

    def spotting_validator(self, emb: Embedder, valid: list[Crop] | None, train: list[Crop]):
        if not valid:
            return lambda: {"score": 0.0}  # no validation set: the last checkpoint is kept
        images, texts = self.images(valid[: self.cfg.val_limit], emb, "validation")
        queries = sorted(set(texts))
        extra = self._distractors(emb, train, set(texts))
        images, texts = images + extra, texts + [f"\0{i}" for i in range(len(extra))]  # never a word: never relevant

        def validate() -> dict:
            ivecs, svecs = emb.embed_images(images), emb.embed_strings(queries)
            fusion = {}
            if emb.fused:  # each checkpoint carries the weights that rank best on validation, and their scores
                s = choose_fusion(emb.ranking, ivecs, texts, svecs, queries)
                emb.set_fusion(s["weights"])
                fusion = {"fusion_qbs": s["weights"][0], "fusion_qbe": s["weights"][1]}
            else:
                s = spotting_scores(ivecs, texts, svecs, queries, emb.string_distances, emb.image_distances)
            return {"val_qbs": s["qbs_map"], "val_qbe": s["qbe_map"], **fusion,
                    "score": np.nanmean([s["qbs_map"], s["qbe_map"]])}
        return validate

    def _distractors(self, emb: Embedder, train: list[Crop], words: set[str]) -> list[np.ndarray]:
        """`val_distractors` training images (a seeded draw) of words that are not in `words`."""
        n = self.cfg.val_distractors
        pool = [s for s, t in zip(train, texts_of(train, emb)) if t and t not in words] if n else []
        if not pool:
            return []
        rng = np.random.default_rng([self.cfg.seed, 11])
        pick = sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False))
        return self.cache.load([pool[i] for i in pick])[1]

    def image_batch(self, images: list[np.ndarray], idx: np.ndarray, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.augment:
            rng = np.random.default_rng([self.cfg.seed, step, 7])
            batch = [augment(images[i], rng) for i in idx]
        else:
            batch = [images[i] for i in idx]
        x, w = collate(batch)
        return x.to(self.device), w

    def objective(self, emb: Embedder, train: list[Crop]) -> tuple[list[np.ndarray], list[str], Objective]:
        """The training images and words the model's image CNN can learn from, and its objective."""
        images, texts = self.images(train, emb, "training")
        self.report_bad()
        kind = objective_kind(emb)
        keep = kind.usable(emb, texts)
        images, texts = [images[i] for i in keep], [texts[i] for i in keep]
        return images, texts, kind(emb, texts, self.cfg)

    def report_bad(self) -> None:
        if self.cache.bad:
            (self.out / "skipped_images.txt").write_text("\n".join(self.cache.bad.values()) + "\n")
            first = next(iter(self.cache.bad.values()))
            self.rep.log(f"skipped {len(self.cache.bad)} unreadable image(s), e.g. {first}; "
                         f"all listed in {self.out / 'skipped_images.txt'}")


@dataclass
class StageData:
    """What the stages learn from: training and validation images, and the string stage's words."""

    train: list[Crop] | None
    valid: list[Crop] | None
    words: list[str]

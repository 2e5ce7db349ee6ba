"""The three LSDE training stages: string CNN, image CNN, joint fine-tuning; with resume."""

from __future__ import annotations

import hashlib
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

from wordspot.config import ModelConfig, TrainConfig
from wordspot.data import Crop, ImageCache
from wordspot.data.imaging import augment, collate
from wordspot.data.text import Alphabet, TextNorm
from wordspot.errors import TrainingInterrupted, WordspotError
from wordspot.evaluation.metrics import spotting_scores
from wordspot.files import atomic_path, atomic_write_text, save_tree
from wordspot.methods import ensemble_refusal, method_of
from wordspot.methods.both.base import choose_fusion
from wordspot.methods.objective import Objective, objective_kind
from wordspot.methods.phoc.base import PHOC
from wordspot.model.embedder import FORMAT_VERSION, Embedder, load_file, resolve_device
from wordspot.progress import Reporter
from wordspot.training.losses import JointLoss, PairLoss, levenshtein_matrix, levenshtein_pairs
from wordspot.training.pairs import PairSampler

STAGES = ("string", "image", "joint")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_at(base: float, progress: float) -> float:
    """Short linear warm-up, then cosine decay to 5% of the base rate."""
    if progress < 0.02:
        return base * (0.1 + 0.9 * progress / 0.02)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _diverged(stage: str, step: int, why: str, out: Path) -> WordspotError:
    return WordspotError(f"training stopped at {stage} step {step + 1}: {why}; lower the learning rate or the "
                         f"loss weights (checkpoints kept so far in {out} are unchanged)")


def _texts(samples: list[Crop], emb: Embedder) -> list[str]:
    return [emb.norm(s.text) for s in samples]


@dataclass
class Stage:
    """What a training stage gives the loop (`Trainer._loop`): its optimizer and base learning rate,
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
        self._epoch, self._epoch_batches = None, []

    # ---- data -------------------------------------------------------------------------------
    def _images(self, samples: list[Crop], emb: Embedder, what: str) -> tuple[list[np.ndarray], list[str]]:
        """Readable images with a non-empty normalised transcription, and those transcriptions."""
        kept, images = self.cache.load(samples)
        texts = _texts(kept, emb)
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
    def _loop(self, st: "Stage", emb: Embedder, resume: dict | None) -> None:
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
                    g["lr"] = lr_at(st.lr, progress)
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
                    if scores["score"] > best or not math.isfinite(best):  # NaN scores: keep the latest
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
        summary = f"{stage}: {step} steps in {(time.time() - t0) / 60:.1f} min; best validation score {best:.4f}"
        previous = self._model_info()
        if stage != "string" and previous.get("stage") in ("image", "joint") and previous["val_score"] > best:
            # spotting mAP is comparable across the image and joint stages: keep the better model
            self.rep.log(f"{summary}; the {previous['stage']} stage's model scored higher "
                         f"({previous['val_score']:.4f}) and stays in {self.out / 'model.pt'}")
            return
        with atomic_path(self.out / "model.pt") as tmp:
            shutil.copyfile(self.out / f"{stage}.pt", tmp)
        self.rep.log(f"{summary}; model saved to {self.out / 'model.pt'}")

    def _model_info(self) -> dict:
        path = self.out / "model.pt"
        return load_file(path, "model").get("info", {}) if path.exists() else {}

    # ---- stage 1 ----------------------------------------------------------------------------
    def train_string(self, words: list[str], valid_words: list[str] | None = None,
                     resume: dict | None = None) -> Embedder:
        cfg, mcfg = self.cfg, self.cfg.model
        norm = TextNorm(mcfg.lowercase, mcfg.alnum_only)
        lexicon = [w for w in map(norm, words) if w]
        if not lexicon:
            raise ValueError("no training words left after normalisation")
        if resume:
            emb = Embedder.from_state(resume["model"], self.device)
        else:
            longest = max(map(len, lexicon))
            if longest > mcfg.max_len:
                self.rep.log(f"longest training word has {longest} symbols: max_len raised from {mcfg.max_len}")
                mcfg.max_len = longest + 8
            emb = Embedder(mcfg, Alphabet.from_words(lexicon), with_image=False, device=self.device)
        sampler = PairSampler(lexicon, emb.alphabet.symbols, emb.config.max_len, seed=cfg.seed)
        # fixed validation pairs, from the validation words when given (the same every step: comparable)
        val_lex = [w for w in (emb.norm(w) for w in (valid_words or [])) if w and not emb.alphabet.unknown(w)]
        val_sampler = PairSampler(val_lex or lexicon, emb.alphabet.symbols, emb.config.max_len, seed=cfg.seed + 1)
        va, vb = val_sampler.sample(2000)
        vlev = levenshtein_pairs(va, vb).numpy()
        net, loss_fn = emb.string_net, PairLoss()
        opt = torch.optim.Adam(net.parameters(), lr=cfg.string_lr)

        def loss_of(step: int) -> torch.Tensor:
            net.train()
            a, b = sampler.sample(cfg.string_batch)
            lev = levenshtein_pairs(a, b).to(self.device)
            fa, fb = net(emb.encode(a + b)).split(len(a))  # one pass for both sides of the siamese pair
            return loss_fn(fa, fb, lev)

        def validate() -> dict:
            fa, fb = (emb.ranking.space(emb.embed_strings(v), images=False) for v in (va, vb))
            d = np.linalg.norm(fa - fb, axis=1)
            rmse = float(np.sqrt(np.mean((d - vlev) ** 2)))
            return {"val_rmse": rmse, "val_pearson": float(np.corrcoef(d, vlev)[0, 1]), "score": -rmse}

        val_every = cfg.val_every or max(1, cfg.string_steps // 10)
        self._loop(Stage("string", opt, cfg.string_lr, cfg.string_steps, cfg.stage_minutes("string"), loss_of,
                         validate, val_every, sampler=sampler), emb, resume)
        return Embedder.load(self.out / "string.pt", self.device)

    # ---- stages 2 and 3 ---------------------------------------------------------------------
    def _spotting_validator(self, emb: Embedder, valid: list[Crop] | None, train: list[Crop]):
        if not valid:
            return lambda: {"score": 0.0}  # no validation set: the last checkpoint is kept
        images, texts = self._images(valid[: self.cfg.val_limit], emb, "validation")
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
        pool = [s for s, t in zip(train, _texts(train, emb)) if t and t not in words] if n else []
        if not pool:
            return []
        rng = np.random.default_rng([self.cfg.seed, 11])
        pick = sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False))
        return self.cache.load([pool[i] for i in pick])[1]

    def _batches(self, widths: np.ndarray, step: int) -> np.ndarray:
        """The sample indices of a step; the batches of an epoch are a function of (seed, epoch).

        Each epoch shuffles, sorts runs of 16 batches by width and shuffles the batches, so that a
        batch holds words of similar width: padding, which costs as much as ink, drops about 4x.
        """
        b = self.cfg.image_batch
        spe = math.ceil(len(widths) / b)
        epoch, k = divmod(step, spe)
        if self._epoch != epoch:
            rng = np.random.default_rng([self.cfg.seed, epoch])
            perm = rng.permutation(len(widths))
            chunks = [perm[i:i + 16 * b] for i in range(0, len(perm), 16 * b)]
            ordered = np.concatenate([c[np.argsort(widths[c], kind="stable")] for c in chunks])
            batches = [ordered[i:i + b] for i in range(0, len(ordered), b)]
            self._epoch, self._epoch_batches = epoch, [batches[i] for i in rng.permutation(len(batches))]
        return self._epoch_batches[k]

    def _image_batch(self, images: list[np.ndarray], idx: np.ndarray, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.augment:
            rng = np.random.default_rng([self.cfg.seed, step, 7])
            batch = [augment(images[i], rng) for i in idx]
        else:
            batch = [images[i] for i in idx]
        x, w = collate(batch)
        return x.to(self.device), w

    def train_image(self, emb: Embedder, train: list[Crop], valid: list[Crop] | None,
                    resume: dict | None = None) -> Embedder:
        cfg = self.cfg
        if resume:
            emb = Embedder.from_state(resume["model"], self.device)
        elif emb.image_net is None:
            blob = emb.state()
            emb.config.aux_phoc = cfg.model.aux_phoc
            emb.config.image_side = cfg.model.image_side
            if emb.config.phoc_weight > 0:
                emb.config.phoc_bigrams = PHOC.from_words(_texts(train, emb)).bigrams
            emb = Embedder(emb.config, emb.alphabet, with_image=True, device=self.device)
            emb.string_net.load_state_dict(blob["string_net"])
        images, texts, objective = self._objective(emb, train)
        opt = torch.optim.AdamW(emb.image_net.parameters(), lr=cfg.image_lr, weight_decay=cfg.weight_decay)
        spe = math.ceil(len(images) / cfg.image_batch)
        widths = np.array([im.shape[1] for im in images])

        def loss_of(step: int) -> torch.Tensor:
            emb.image_net.train()
            idx = self._batches(widths, step)
            x, w = self._image_batch(images, idx, step)
            return objective.image_loss(x, w, idx)

        self._loop(Stage("image", opt, cfg.image_lr, cfg.image_epochs * spe, cfg.stage_minutes("image"), loss_of,
                         self._spotting_validator(emb, valid, train), cfg.val_every or spe, clip=objective.clip), emb, resume)
        return Embedder.load(self.out / "image.pt", self.device)

    def _objective(self, emb: Embedder, train: list[Crop]) -> tuple[list[np.ndarray], list[str], Objective]:
        """The training images and words the model's image CNN can learn from, and its objective."""
        images, texts = self._images(train, emb, "training")
        self._report_bad()
        kind = objective_kind(emb)
        keep = kind.usable(emb, texts)
        images, texts = [images[i] for i in keep], [texts[i] for i in keep]
        return images, texts, kind(emb, texts, self.cfg)

    def train_joint(self, emb: Embedder, train: list[Crop], valid: list[Crop] | None,
                    words: list[str], resume: dict | None = None) -> Embedder:
        cfg = self.cfg
        if resume:
            emb = Embedder.from_state(resume["model"], self.device)
        if emb.image_net is None:
            raise ValueError("joint training needs a model with an image network: run --stage image first")
        images, texts, objective = self._objective(emb, train)
        lexicon = [w for w in (emb.norm(w) for w in words) if w and not emb.alphabet.unknown(w)] or texts
        sampler = PairSampler(lexicon, emb.alphabet.symbols, emb.config.max_len, seed=cfg.seed + 2)
        params = list(emb.string_net.parameters()) + list(emb.image_net.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.joint_lr, weight_decay=cfg.weight_decay)
        joint, pair_loss = JointLoss(*cfg.joint_weights), PairLoss()
        spe = math.ceil(len(images) / cfg.image_batch)
        widths = np.array([im.shape[1] for im in images])

        def loss_of(step: int) -> torch.Tensor:
            emb.string_net.train()
            emb.image_net.train()
            idx = self._batches(widths, step)
            x, w = self._image_batch(images, idx, step)
            words_b = [texts[i] for i in idx]
            lev = levenshtein_matrix(words_b, words_b).to(self.device)
            vecs, kept = objective.joint(x, w, idx)  # what the image CNN learned in stage 2 stays a term
            parts = joint(vecs, emb.string_net(emb.encode(words_b)), lev)
            loss = parts["total"] + kept
            if cfg.joint_string_pairs:
                # keep the string space calibrated beyond the batch's words (close pairs, long strings)
                a, b = sampler.sample(cfg.joint_string_pairs)
                plev = levenshtein_pairs(a, b).to(self.device)
                loss = loss + cfg.joint_weights[0] * pair_loss(emb.string_net(emb.encode(a)),
                                                               emb.string_net(emb.encode(b)), plev)
            return loss

        self._loop(Stage("joint", opt, cfg.joint_lr, cfg.joint_epochs * spe, cfg.stage_minutes("joint"), loss_of,
                         self._spotting_validator(emb, valid, train), cfg.val_every or spe, sampler=sampler), emb, resume)
        return Embedder.load(self.out / "joint.pt", self.device)

    def _report_bad(self) -> None:
        if self.cache.bad:
            (self.out / "skipped_images.txt").write_text("\n".join(self.cache.bad.values()) + "\n")
            first = next(iter(self.cache.bad.values()))
            self.rep.log(f"skipped {len(self.cache.bad)} unreadable image(s), e.g. {first}; "
                         f"all listed in {self.out / 'skipped_images.txt'}")


def _data_id(samples: list[Crop] | None) -> str:
    h = hashlib.sha256()
    for s in samples or []:
        h.update(f"{s.path}\t{s.text}\t{s.box}\n".encode())
    return h.hexdigest()[:16] if samples else ""


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
    if not resume and not overwrite:
        done = [s for s in stages if (out / f"{s}.pt").exists()]
        if done:
            raise WordspotError(f"{out} already holds a trained {done[0]} stage: continue it with --resume, "
                                f"or train it again with --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    if overwrite and not resume:
        for stale in ("log.jsonl", "model.pt"):  # a new run: a new log, and no old model to beat
            (out / stale).unlink(missing_ok=True)
    state = None
    data_id = _data_id(train_set)
    if resume:
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
    start = None
    if init is not None and not state:
        start = Embedder.load(init)
        cfg.model = ModelConfig.from_dict(asdict(start.config))  # the model's own architecture and alphabet
        stages = tuple(s for s in stages if s != "string") or ("image",)
        new = {ch for s in train_set or [] for ch in start.norm(s.text)} - set(start.alphabet.symbols)
        if new:
            import warnings
            warnings.warn(f"--init {init}: the training words use {len(new)} symbol(s) the model does not know "
                          f"({''.join(sorted(new))[:40]!r}); it cannot learn them (train from scratch for them)",
                          stacklevel=2)
    atomic_write_text(out / "config.json", json.dumps(asdict(cfg), indent=2))
    seed_everything(cfg.seed)
    trainer = Trainer(cfg, out, reporter)
    trainer.data_id = data_id
    if state:
        trainer.history = state.get("history", [])
    words = list(words) if words else [s.text for s in (train_set or []) + (valid_set or [])]
    emb: Embedder | None = start.to(trainer.device) if start is not None else None

    def resume_for(stage: str) -> dict | None:
        return state if state and state["stage"] == stage else None

    method = method_of(cfg.model)
    if not method.lsde:
        # no string network: only the method's stages, from scratch
        if not set(stages) & set(method.stages):
            raise ValueError(f"the {method.name} method trains only the {' and '.join(method.stages)} stage")
        stages = method.stages
        if not resume_for(stages[0]) and emb is None:
            texts = [w for w in (TextNorm(cfg.model.lowercase, cfg.model.alnum_only)(s.text)
                                 for s in train_set or []) if w]
            if not texts:
                raise ValueError(f"the {method.name} method needs training images with transcriptions (--data)")
            method.fit_settings(cfg.model, texts)
            emb = Embedder(cfg.model, Alphabet.from_words(texts), device=trainer.device)
    for stage in stages:
        if stage == "string":
            emb = trainer.train_string(words, [s.text for s in valid_set or []], resume_for("string"))
        else:
            if not train_set:
                raise ValueError(f"the {stage} stage needs training images (--data)")
            if emb is None and not resume_for(stage):
                src = string_model or (out / ("string.pt" if stage == "image" else "image.pt"))
                emb = Embedder.load(src, trainer.device)
            if stage == "image":
                emb = trainer.train_image(emb, train_set, valid_set, resume_for("image"))
            else:
                emb = trainer.train_joint(emb, train_set, valid_set, words, resume_for("joint"))
    if emb is None:
        raise ValueError("nothing to do: every stage asked for is already done (see last.pt)")
    kept_stage = ((load_file(out / "model.pt", "model", tensors=False).get("info") or {}).get("stage")
                  if (out / "model.pt").exists() else None)
    if valid_set and kept_stage in ("image", "joint"):  # a model that spots words, not a string CNN alone
        _warn_if_near_chance(out / "model.pt", [t for t in _texts(valid_set, emb) if t])
        try:
            kept = calibrate_model(out / "model.pt", valid_set, cfg.val_limit)
            trainer.rep.log(f"scores calibrated on {len(valid_set[:cfg.val_limit])} validation images "
                            f"(saved in {out / 'model.pt'})")
            if kept.model_id() == emb.model_id():
                emb.calibration = kept.calibration
        except (WordspotError, ValueError) as e:  # a validation set with one word: hits get no score
            trainer.rep.log(f"scores not calibrated: {e}")
    return emb


def _warn_if_near_chance(path: Path, texts: list[str]) -> None:
    """Say so when a finished model ranks its validation images little better than a random order
    would (the mean AP of random rankings: each query's share of relevant images)."""
    from collections import Counter
    score = (load_file(path, "model", tensors=False).get("info") or {}).get("val_score")
    counts = Counter(texts)
    if not isinstance(score, float) or not math.isfinite(score) or len(counts) < 2:
        return
    chance = float(np.mean([c / len(texts) for c in counts.values()]))
    if score < chance + 0.25 * (1.0 - chance):
        import warnings
        warnings.warn(f"{path}: validation mAP {score:.3f} is near chance ({chance:.3f}): the model has learned "
                      f"little; train longer (--minutes), on more data, or check the transcriptions", stacklevel=3)


def calibrate_model(path: str | Path, samples: list[Crop], limit: int = 1500) -> Embedder:
    """Fit the scores of a model file (calibration.py) on labelled images, a validation set, and
    save them into the file; returns the model with them. Rankings and the model id do not change,
    so its indexes stay valid."""
    from wordspot.model.calibration import calibrate
    path = Path(path)
    path = path / "model.pt" if path.is_dir() else path
    emb = Embedder.load(path)
    kept, images = ImageCache(emb.config.image_height).load(samples[:limit])
    pairs = [(im, t) for im, t in zip(images, _texts(kept, emb)) if t]
    if not pairs:
        raise WordspotError("no readable labelled images to calibrate on")
    texts = [t for _, t in pairs]
    queries = sorted(set(texts))
    cal = calibrate(emb, emb.embed_images([im for im, _ in pairs]), texts, emb.embed_strings(queries), queries)
    blob = load_file(path, "model")
    blob["calibration"] = cal
    save_tree(blob, path)
    emb.calibration = cal
    return emb


def train_ensemble(cfg: TrainConfig, out: str | Path, members: int, *, train_set: list[Crop] | None = None,
                   valid_set: list[Crop] | None = None, resume: bool = False, overwrite: bool = False,
                   reporter: Reporter | None = None) -> Embedder:
    """PHOC only: train `members` models into out/member<i> (seeds seed, seed+1, ...; the image
    minutes shared among them), and save in out/model.pt the model that averages their logits.

    With `resume`, a member whose training ended is kept and an interrupted one continued.
    """
    if not method_of(cfg.model).ensembles:
        raise WordspotError(ensemble_refusal())
    if members < 2:
        raise WordspotError(f"an ensemble needs at least 2 members, not {members}")
    out = Path(out)
    models = []
    for i in range(members):
        sub = out / f"member{i}"
        state = load_file(sub / "last.pt", "train-state") if resume and (sub / "last.pt").exists() else None
        if not (state and state["done"]):
            member_cfg = TrainConfig.from_dict(asdict(cfg))
            member_cfg.seed = cfg.seed + i
            member_cfg.image_minutes, member_cfg.minutes = cfg.stage_minutes("image") / members, 0.0
            train(member_cfg, sub, train_set=train_set, valid_set=valid_set, stages=("image",),
                  resume=state is not None, overwrite=overwrite, reporter=reporter)
        models.append(Embedder.load(sub / "model.pt"))  # the member's best checkpoint
    ensemble = Embedder.ensemble(models)
    ensemble.save(out / "model.pt", stage="ensemble", members=members)
    (reporter or Reporter()).log(f"ensemble of {members} models saved to {out / 'model.pt'}")
    return ensemble

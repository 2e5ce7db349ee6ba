"""Training a line reader (model/linereader.py) from line images and their transcriptions: CTC over the whole
line, spaces included, so that no word box is ever needed."""

from __future__ import annotations

from pathlib import Path

import Levenshtein
import numpy as np
import torch
import torch.nn.functional as F

from wordspot.config import TrainConfig
from wordspot.data import Crop
from wordspot.data.imaging import augment, collate
from wordspot.data.text import Alphabet
from wordspot.errors import WordspotError
from wordspot.model.linereader import LineReader, load_lines
from wordspot.progress import Reporter
from wordspot.training.batches import WidthBatches
from wordspot.training.schedules import SCHEDULES
from wordspot.training.trainer import Stage, Trainer, seed_everything

STAGE = "lines"


def transcribed_lines(lines: list[Crop], height: int) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Images of the readable lines with a transcription, their texts, and why others were left out."""
    bad = [f"{line.key}: no transcription" for line in lines if not line.text.strip()]
    lines = [line for line in lines if line.text.strip()]
    kept, images, unreadable = load_lines(lines, height)
    return [im.image for im in images], [" ".join(lines[i].text.split()) for i in kept], bad + list(unreadable.values())


def _ctc(reader: LineReader, x: torch.Tensor, widths: torch.Tensor, texts: list[str]) -> torch.Tensor:
    logp, frames = reader.net(x, widths)
    index = reader.alphabet.index
    targets = torch.tensor([index[ch] for t in texts for ch in t if ch in index], dtype=torch.long)
    lengths = torch.tensor([sum(ch in index for ch in t) for t in texts], dtype=torch.long)
    # zero_infinity: a line longer than its frames cannot be aligned; skipped, not NaN
    return F.ctc_loss(logp, targets, frames.cpu(), lengths, blank=reader.blank, zero_infinity=True)


def _validator(reader: LineReader, images: list[np.ndarray], texts: list[str]):
    def validate() -> dict:
        if not images:
            return {"score": 0.0}
        read = [reader.transcribe(lp) for lp in reader.logprobs(images)]
        cer = sum(Levenshtein.distance(r, t) for r, t in zip(read, texts)) / max(1, sum(map(len, texts)))
        return {"val_cer": cer, "score": -cer}
    return validate


def train_lines(cfg: TrainConfig, out: str | Path, train_set: list[Crop], valid_set: list[Crop] | None = None,
                reporter: Reporter | None = None, resume: bool = False) -> LineReader:
    """Train a line reader into the run folder `out` (lines.pt, model.pt, last.pt, log.jsonl); returns it.

    Its budget is `minutes` (or image_minutes) and image_epochs; batches of `line_batch` lines."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    trainer = Trainer(cfg, out, reporter)
    images, texts, bad = transcribed_lines(train_set, cfg.model.image_height)
    if not images:
        raise WordspotError(f"no usable training lines ({bad[0] if bad else 'none given'})")
    if bad:
        trainer.rep.log(f"{len(bad)} training line(s) left out, e.g. {bad[0]}")
    valid_images, valid_texts, _ = transcribed_lines((valid_set or [])[: cfg.val_limit], cfg.model.image_height)
    state = None
    if resume and (out / "last.pt").exists():
        from wordspot.model.modelfile import load_file
        state = load_file(out / "last.pt", "train-state")
        reader = LineReader.from_state(state["model"], trainer.device)
    else:
        reader = LineReader(cfg.model, Alphabet.from_words(texts), trainer.device)
    opt = torch.optim.AdamW(reader.net.parameters(), lr=cfg.image_lr, weight_decay=cfg.weight_decay)
    batches = WidthBatches(np.array([im.shape[1] for im in images]), cfg.line_batch, cfg.seed)

    def loss_of(step: int) -> torch.Tensor:
        reader.net.train()
        idx = batches(step)
        rng = np.random.default_rng([cfg.seed, step, 7])
        # lines are long: a rotation of 3 degrees, harmless on a word, moves a line's ends off the image
        batch = [augment(images[i], rng, max_angle=0.3) if cfg.augment else images[i] for i in idx]
        x, w = collate(batch)
        return _ctc(reader, x.to(trainer.device), w, [texts[i] for i in idx])

    minutes = cfg.image_minutes or cfg.minutes
    trainer.loop(Stage(STAGE, opt, cfg.image_lr, cfg.image_epochs * batches.per_epoch, minutes, loss_of,
                       _validator(reader, valid_images, valid_texts), cfg.val_every or batches.per_epoch,
                       clip=5.0, schedule=SCHEDULES[cfg.image_schedule]), reader, state)
    return LineReader.load(out / f"{STAGE}.pt", trainer.device)

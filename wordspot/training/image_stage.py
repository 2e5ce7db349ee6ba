"""Stage 2: the image CNN learns its method's objective (reading, regression or attributes)."""

from __future__ import annotations

import numpy as np
import torch

from wordspot.methods.phoc.base import PHOC
from wordspot.model.embedder import Embedder
from wordspot.training.batches import WidthBatches
from wordspot.training.schedules import SCHEDULES
from wordspot.training.trainer import Stage, StageData, Trainer, texts_of


def _with_image_cnn(trainer: Trainer, emb: Embedder, data: StageData) -> Embedder:
    """The string stage's model with a new image CNN, set up as this run asks."""
    cfg = trainer.cfg
    blob = emb.state()
    emb.config.aux_phoc = cfg.model.aux_phoc
    emb.config.image_side = cfg.model.image_side
    if emb.config.phoc_weight > 0:
        emb.config.phoc_bigrams = PHOC.from_words(texts_of(data.train, emb)).bigrams
    emb = Embedder(emb.config, emb.alphabet, with_image=True, device=trainer.device)
    emb.string_net.load_state_dict(blob["string_net"])
    return emb


def run(trainer: Trainer, emb: Embedder, data: StageData, resume: dict | None) -> Embedder:
    cfg = trainer.cfg
    if resume:
        emb = Embedder.from_state(resume["model"], trainer.device)
    elif emb.image_net is None:
        emb = _with_image_cnn(trainer, emb, data)
    images, texts, objective = trainer.objective(emb, data.train)
    opt = torch.optim.AdamW(emb.image_net.parameters(), lr=cfg.image_lr, weight_decay=cfg.weight_decay)
    batches = WidthBatches(np.array([im.shape[1] for im in images]), cfg.image_batch, cfg.seed)

    def loss_of(step: int) -> torch.Tensor:
        emb.image_net.train()
        idx = batches(step)
        x, w = trainer.image_batch(images, idx, step)
        return objective.image_loss(x, w, idx)

    spe = batches.per_epoch
    trainer.loop(Stage("image", opt, cfg.image_lr, cfg.image_epochs * spe, cfg.stage_minutes("image"), loss_of,
                       trainer.spotting_validator(emb, data.valid, data.train), cfg.val_every or spe,
                       clip=objective.clip, schedule=SCHEDULES[cfg.image_schedule]), emb, resume)
    return Embedder.load(trainer.out / "image.pt", trainer.device)

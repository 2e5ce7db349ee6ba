"""Stage 3: both networks together, so that string-string, image-string and image-image distances track edit
distance, while the image CNN keeps the term it learned in stage 2."""

from __future__ import annotations

import numpy as np
import torch

from wordspot.model.embedder import Embedder
from wordspot.training.batches import WidthBatches
from wordspot.training.losses import JointLoss, PairLoss, levenshtein_matrix, levenshtein_pairs
from wordspot.training.pairs import PairSampler
from wordspot.training.schedules import SCHEDULES
from wordspot.training.trainer import Stage, StageData, Trainer


def run(trainer: Trainer, emb: Embedder, data: StageData, resume: dict | None) -> Embedder:
    cfg = trainer.cfg
    if resume:
        emb = Embedder.from_state(resume["model"], trainer.device)
    if emb.image_net is None:
        raise ValueError("joint training needs a model with an image network: run --stage image first")
    images, texts, objective = trainer.objective(emb, data.train)
    lexicon = [w for w in (emb.norm(w) for w in data.words) if w and not emb.alphabet.unknown(w)] or texts
    sampler = PairSampler(lexicon, emb.alphabet.symbols, emb.config.max_len, seed=cfg.seed + 2)
    params = list(emb.string_net.parameters()) + list(emb.image_net.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.joint_lr, weight_decay=cfg.weight_decay)
    joint, pair_loss = JointLoss(*cfg.joint_weights), PairLoss()
    batches = WidthBatches(np.array([im.shape[1] for im in images]), cfg.joint_batch or cfg.image_batch, cfg.seed)

    def loss_of(step: int) -> torch.Tensor:
        emb.string_net.train()
        emb.image_net.train()
        idx = batches(step)
        x, w = trainer.image_batch(images, idx, step)
        words_b = [texts[i] for i in idx]
        lev = levenshtein_matrix(words_b, words_b).to(trainer.device)
        vecs, kept = objective.joint(x, w, idx)  # what the image CNN learned in stage 2 stays a term
        loss = joint(vecs, emb.string_net(emb.encode(words_b)), lev)["total"] + kept
        if cfg.joint_string_pairs:
            # keep the string space calibrated beyond the batch's words (close pairs, long strings)
            a, b = sampler.sample(cfg.joint_string_pairs)
            plev = levenshtein_pairs(a, b).to(trainer.device)
            loss = loss + cfg.joint_weights[0] * pair_loss(emb.string_net(emb.encode(a)),
                                                           emb.string_net(emb.encode(b)), plev)
        return loss

    spe = batches.per_epoch
    # unclipped, unlike the image stage: every joint figure in benchmarks/ was trained so (a reader's clip of
    # 5 would change them; measure before changing)
    trainer.loop(Stage("joint", opt, cfg.joint_lr, cfg.joint_epochs * spe, cfg.stage_minutes("joint"), loss_of,
                       trainer.spotting_validator(emb, data.valid, data.train), cfg.val_every or spe,
                       sampler=sampler, schedule=SCHEDULES[cfg.joint_schedule]), emb, resume)
    return Embedder.load(trainer.out / "joint.pt", trainer.device)

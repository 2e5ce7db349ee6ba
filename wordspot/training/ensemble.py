"""Ensembles: several image CNNs of a method that allows it, trained one after another, averaged in one model."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from wordspot.config import TrainConfig
from wordspot.data import Crop
from wordspot.errors import WordspotError
from wordspot.methods import ensemble_refusal, method_of
from wordspot.model.embedder import Embedder
from wordspot.model.modelfile import load_file
from wordspot.progress import Reporter
from wordspot.training.run import train


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

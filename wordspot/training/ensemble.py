"""Ensembles: several image CNNs trained one after another (seeds seed, seed+1, ...), averaged in one model."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from wordspot.config import TrainConfig
from wordspot.data import Crop
from wordspot.errors import WordspotError
from wordspot.methods import method_of
from wordspot.model.embedder import Embedder
from wordspot.model.modelfile import load_file
from wordspot.progress import Reporter
from wordspot.training.calibrate import fit_on_validation
from wordspot.training.run import train


def member_minutes(cfg: TrainConfig, members: int, init: str | Path | None = None) -> float:
    """Each member's image-stage minutes (0: no limit): the image and joint stages' share of the budget,
    split among the members. A member has no joint stage: it would move the string CNN they share."""
    if init is not None and cfg.minutes and not (cfg.image_minutes or cfg.joint_minutes):
        return cfg.minutes / members  # a fine-tuned model has no string stage
    return (cfg.stage_minutes("image") + cfg.stage_minutes("joint")) / members


def _part(cfg: TrainConfig, out: Path, stage: str, resume: bool, overwrite: bool, **kw) -> None:
    """Train one stage into `out`, unless a resumed run finished it there (an interrupted one continues)."""
    state = load_file(out / "last.pt", "train-state") if resume and (out / "last.pt").exists() else None
    if not (state and state["done"]):
        train(cfg, out, stages=(stage,), resume=state is not None, overwrite=overwrite, **kw)


def train_ensemble(cfg: TrainConfig, out: str | Path, members: int, *, train_set: list[Crop] | None = None,
                   valid_set: list[Crop] | None = None, words: list[str] | None = None,
                   init: str | Path | None = None, resume: bool = False, overwrite: bool = False,
                   reporter: Reporter | None = None) -> Embedder:
    """Train `members` image CNNs into out/member<i> and save in out/model.pt the model that averages their
    vectors, its fusion weights and scores fitted on `valid_set`.

    An LSDE or fused model's members share one string CNN, so that their vectors lie in one space: the
    string stage is trained once into out/string (or is the `init` model's, which every member
    fine-tunes). With `resume`, finished parts are kept and an interrupted one continued.
    """
    if members < 2:
        raise WordspotError(f"an ensemble needs at least 2 members, not {members}")
    out, rep = Path(out), reporter or Reporter()
    string_model = None
    if method_of(cfg.model).lsde and init is None:
        _part(cfg, out / "string", "string", resume, overwrite, train_set=train_set, valid_set=valid_set,
              words=words, reporter=reporter)
        string_model = out / "string" / "string.pt"
    models = []
    for i in range(members):
        member_cfg = TrainConfig.from_dict(asdict(cfg))
        member_cfg.seed = cfg.seed + i
        member_cfg.image_minutes = member_minutes(cfg, members, init)
        member_cfg.minutes = member_cfg.joint_minutes = 0.0
        _part(member_cfg, out / f"member{i}", "image", resume, overwrite, train_set=train_set, valid_set=valid_set,
              string_model=string_model, init=init, reporter=reporter)
        models.append(Embedder.load(out / f"member{i}" / "model.pt"))  # the member's best checkpoint
    ensemble = Embedder.ensemble(models)
    info = _fit_on_validation(ensemble, valid_set, cfg.val_limit, rep) if valid_set else {}
    ensemble.save(out / "model.pt", stage="ensemble", members=members, **info)
    rep.log(f"ensemble of {members} models saved to {out / 'model.pt'}")
    return ensemble


def _fit_on_validation(emb: Embedder, valid_set: list[Crop], limit: int, rep: Reporter) -> dict:
    """`fit_on_validation`, or a line in the log when the validation images cannot fit scores."""
    try:
        return fit_on_validation(emb, valid_set, limit)
    except (WordspotError, ValueError) as e:  # a validation set with one word: hits get no score
        rep.log(f"scores not calibrated: {e}")
        return {}

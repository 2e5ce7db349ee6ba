"""Every setting, written and checked once: `ModelConfig` (what rebuilds a model's networks and
prepares their inputs) and `TrainConfig` (a run). No PyTorch here: the command line shows these
defaults, and a query by string loads a model, without importing it."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields

from wordspot.errors import ConfigError, require

IMAGE_SIDES = ("regress", "read")
IMAGE_LOSSES = ("euclidean", "bce", "softmax")
# how models embedded word images before `image_views` existed: the image as it is (model files without the
# setting keep it, so that their indexes stay valid)
ONE_VIEW = [[1.0, 0.0]]


def _number(v: object) -> bool:
    """A finite number: `--set x=1e309` or `Infinity` reads as infinity, which trains a NaN model."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class ModelConfig:
    """Everything needed to rebuild the networks and prepare their inputs."""

    dim: int = 128
    max_len: int = 32
    string_channels: int = 64
    string_hidden: int = 512
    string_layers: int = 2
    string_both_ends: bool = True  # one-hot aligned at both ends of the word
    image_height: int = 48
    image_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    image_blocks: list[int] = field(default_factory=lambda: [2, 2, 3, 3])
    image_hidden: int = 1024
    lowercase: bool = True
    alnum_only: bool = True
    # "both" (the default: the most accurate of the LSDE models on George Washington, README): LSDE
    # with a PHOC head on the same image trunk, ranking by both (methods/both); "lsde": the
    # LSDE vector alone; "phoc": the PHOCNet-style baseline (image CNN -> PHOC attributes)
    method: str = "both"
    phoc_bigrams: list[str] = field(default_factory=list)
    # the PHOC head's loss weight beside the LSDE image side: a training signal for "lsde", half of
    # the ranking for "both" (0 there means the method's own, methods/both)
    aux_phoc: float = 0.0
    # LSDE's image side: "read" (a CTC reader whose soft reading goes through the string CNN) or
    # "regress" (a CNN regresses the string vector; far weaker on words never seen in training,
    # benchmarks/README.md); "" means read, and regress (the only choice) with the phoc method
    image_side: str = ""
    # a reader's PHOC head pools a last trunk stage of its own (reading and attributes share the
    # early stages only): the trunk learns faster and both heads rank better (benchmarks/README.md)
    phoc_branch: bool = True
    # what the image side embeds of a word image (not what it trains on): the mean of the vectors of these
    # views, each [stretch, margin]: the width scaled by `stretch`, then `margin` x the height of blank
    # added at each side. Training's shear leaves blank margins (0.09 of the height a side on average) that
    # the trimmed images it ranks lack. Margins of 0.1 on the image and on a copy 1.2 times as wide ranked
    # George Washington's validation images best of 12 candidates but for a third view, which added
    # 0.01 (benchmarks/README.md, "Image views")
    image_views: list[list[float]] = field(default_factory=lambda: [[1.0, 0.1], [1.2, 0.1]])
    # QbE with a reader: an example's distance to a crop also counts the QbS distance of what the model read in
    # it, weighted so (each term on the scale of its median on validation images, fitted with the scores). A
    # reader ranks typed words better than examples; 0.1 ranked 2,700 validation queries of seven George
    # Washington models best (0.3 next; benchmarks/README.md, "query by example through the example's reading")
    example_reading: float = 0.1

    def __post_init__(self) -> None:
        for name in ("dim", "max_len", "string_channels", "string_hidden", "string_layers", "image_hidden"):
            v = getattr(self, name)
            require(isinstance(v, int) and v >= 1, name, "a whole number of at least 1", v)
        require(isinstance(self.image_height, int) and 16 <= self.image_height <= 512, "image_height",
                "a whole number from 16 to 512 (pixels)", self.image_height)
        for name in ("image_channels", "image_blocks"):
            v = getattr(self, name)
            require(isinstance(v, (list, tuple)) and all(isinstance(c, int) and c >= 1 for c in v), name,
                    "a list of whole numbers of at least 1", v)
        require(len(self.image_channels) == len(self.image_blocks) >= 1, "image_blocks",
                "a list as long as image_channels", self.image_blocks)
        from wordspot.methods import METHODS  # the registry: each method says what it allows
        require(self.method in METHODS, "method", f"one of {', '.join(METHODS)}", self.method)
        require(self.image_side in ("", *IMAGE_SIDES), "image_side", f"one of {', '.join(IMAGE_SIDES)}", self.image_side)
        require(not self.reads or METHODS[self.method].can_read, "image_side", f"'regress' with the {self.method} method",
                self.image_side)
        require(_number(self.aux_phoc) and self.aux_phoc >= 0, "aux_phoc", "a finite number of 0 or more", self.aux_phoc)
        for name in ("string_both_ends", "lowercase", "alnum_only", "phoc_branch"):
            require(isinstance(getattr(self, name), bool), name, "true or false", getattr(self, name))
        require(isinstance(self.image_views, (list, tuple)) and 1 <= len(self.image_views) <= 8
                and all(isinstance(v, (list, tuple)) and len(v) == 2 and all(_number(x) for x in v)
                        and 0.25 <= v[0] <= 4 and 0 <= v[1] <= 2 for v in self.image_views), "image_views",
                "1 to 8 pairs [stretch, margin], stretch from 0.25 to 4, margin from 0 to 2 (image heights)",
                self.image_views)
        self.image_views = [[float(a), float(b)] for a, b in self.image_views]
        require(_number(self.example_reading) and 0 <= self.example_reading <= 100, "example_reading",
                "a number from 0 to 100", self.example_reading)
        self.example_reading = float(self.example_reading)
        require(isinstance(self.phoc_bigrams, list) and all(isinstance(b, str) for b in self.phoc_bigrams),
                "phoc_bigrams", "a list of strings", self.phoc_bigrams)

    @property
    def reads(self) -> bool:
        """Whether the image side is a CTC reader (image_side "read", or "" with an LSDE method)."""
        from wordspot.methods import get
        return self.image_side == "read" or (self.image_side == "" and get(self.method).reads_by_default)

    @property
    def phoc_weight(self) -> float:
        """The PHOC head's loss weight: aux_phoc, or when it is 0 the method's own (5 for "both")."""
        from wordspot.methods import get
        return self.aux_phoc or get(self.method).head_weight

    @classmethod
    def from_dict(cls, d: dict, strict: bool = False) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = [k for k in d if k not in known]
        if strict and unknown:
            raise ConfigError(f"model.{unknown[0]}", f"not a model setting (model settings: {', '.join(sorted(known))})")
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class TrainConfig:
    """Every setting of a run; saved as config.json beside the checkpoints."""

    model: ModelConfig = field(default_factory=ModelConfig)
    seed: int = 0
    device: str = "auto"
    # a budget for the whole run: split as the George Washington figures were trained (README):
    # the string stage up to 6 minutes, then 70% of the rest to the image stage and 30% to the joint
    # stage (all to the image stage for PHOC); a stage's own minutes, when given, win
    minutes: float = 0.0
    string_steps: int = 3000
    string_minutes: float = 0.0
    string_batch: int = 256
    string_lr: float = 1e-3
    image_epochs: int = 30
    image_minutes: float = 0.0  # 0: no time limit
    image_batch: int = 32
    image_lr: float = 1e-3
    image_loss: str = "euclidean"  # or "bce" (sigmoid cross-entropy of the seed method), or "softmax"
    joint_epochs: int = 10
    joint_minutes: float = 0.0
    joint_lr: float = 3e-4
    joint_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])  # ss, is, ii
    joint_string_pairs: int = 64
    augment: bool = True
    val_every: int = 0  # steps between validations; 0: once an epoch
    val_limit: int = 1500  # validation images at most, to keep validation cheap
    # training images of words absent from validation, ranked beside the validation images as
    # non-matches: 300 validation images alone reach mAP 1.000 and no longer tell checkpoints apart
    val_distractors: int = 0
    weight_decay: float = 1e-5
    # each stage's learning-rate schedule, by name (training/schedules.py)
    string_schedule: str = "cosine"
    image_schedule: str = "cosine"
    joint_schedule: str = "cosine"
    joint_batch: int = 0  # images a joint step; 0: image_batch
    line_batch: int = 8  # line images a step of a line reader (--lines): a line holds about ten words

    def __post_init__(self) -> None:
        for name in ("string_steps", "string_batch", "image_epochs", "image_batch", "joint_epochs", "val_limit",
                     "line_batch"):
            v = getattr(self, name)
            require(isinstance(v, int) and v >= 1, name, "a whole number of at least 1", v)
        for name in ("seed", "joint_string_pairs", "val_every", "val_distractors", "joint_batch"):
            v = getattr(self, name)
            require(isinstance(v, int) and v >= 0, name, "a whole number of at least 0", v)
        for name in ("string_lr", "image_lr", "joint_lr"):
            v = getattr(self, name)
            require(_number(v) and 0 < v < 1, name, "a number between 0 and 1", v)
        for name in ("minutes", "string_minutes", "image_minutes", "joint_minutes", "weight_decay"):
            v = getattr(self, name)
            require(_number(v) and v >= 0, name, "a number of 0 or more (minutes: 0 for no limit)", v)
        require(isinstance(self.augment, bool), "augment", "true or false", self.augment)
        require(self.device in ("auto", "cpu", "cuda"), "device", "auto, cpu or cuda", self.device)
        from wordspot.training.schedules import SCHEDULES
        for name in ("string_schedule", "image_schedule", "joint_schedule"):
            require(getattr(self, name) in SCHEDULES, name, f"one of {', '.join(SCHEDULES)}", getattr(self, name))
        require(self.image_loss in IMAGE_LOSSES, "image_loss", f"one of {', '.join(IMAGE_LOSSES)}", self.image_loss)
        w = self.joint_weights
        require(isinstance(w, (list, tuple)) and len(w) == 3 and all(_number(x) and x >= 0 for x in w), "joint_weights",
                "three finite weights of 0 or more (string-string, image-string, image-image)", self.joint_weights)

    def stage_minutes(self, stage: str) -> float:
        """A stage's time budget in minutes (0: none), from its own setting or the run's `minutes`."""
        own = {"string": self.string_minutes, "image": self.image_minutes, "joint": self.joint_minutes}[stage]
        if own or not self.minutes:
            return own
        from wordspot.methods import get
        return get(self.model.method).budget(self.minutes)[stage]

    @classmethod
    def from_dict(cls, d: dict, strict: bool = False) -> "TrainConfig":
        """From a dict such as a run's config.json; `strict` refuses keys that are not settings."""
        d = dict(d)
        known = set(cls.__dataclass_fields__)
        unknown = [k for k in d if k not in known]
        if strict and unknown:
            raise ConfigError(unknown[0], f"not a setting (settings: {', '.join(sorted(known))})")
        d["model"] = ModelConfig.from_dict(d.get("model", {}), strict)
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_settings(self, settings: dict[str, object]) -> "TrainConfig":
        """A copy with `key: value` settings applied; `model.dim` (or plain `dim`) reaches the model."""
        d = asdict(self)
        model_fields = set(ModelConfig.__dataclass_fields__)
        for key, value in settings.items():
            name = key.removeprefix("model.")
            if key.startswith("model.") or (key not in d and name in model_fields):
                if name not in model_fields:
                    raise ConfigError(key, f"not a model setting (model settings: {', '.join(sorted(model_fields))})")
                d["model"][name] = value
            elif key in d and key != "model":
                d[key] = value
            else:
                raise ConfigError(key, "not a setting (see config.json of a run for every setting)")
        return TrainConfig.from_dict(d, strict=True)


def parse_settings(items: list[str]) -> dict[str, object]:
    """`key=value` strings -> {key: value}; a value is read as JSON (numbers, true, lists) when it can be."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("set", f"expected KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out

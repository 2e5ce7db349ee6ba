"""A method, said once: which stages it trains, what its vectors hold, how it ranks. Imports no framework.

Each method is a subclass in its own folder (`lsde/`, `phoc/`, `both/`), its NumPy part in `base.py` beside its
PyTorch part in `pytorch.py`, and one line in the registry (`methods/__init__.py`). The rest of wordspot asks
these attributes instead of testing a method's name.
"""

from __future__ import annotations

STAGES = ("string", "image", "joint")


class Method:
    name = ""
    summary = ""  # said in `wordspot train --help`
    stages: tuple[str, ...] = STAGES  # the training stages it has
    lsde = True  # words go through the string CNN; vectors hold an LSDE part
    phoc = False  # vectors hold PHOC attributes (the whole vector without `lsde`, beside the LSDE part with it)
    fused = False  # ranks by an LSDE and a PHOC part, weighed by fusion weights that belong to the model
    reads_by_default = True  # the image side is a CTC reader unless image_side says otherwise
    can_read = True
    head_weight = 0.0  # the PHOC head's loss weight when aux_phoc is not given
    # the module holding `objective_kind(emb)`: what the image CNN learns (PyTorch; imported when training)
    torch_module = "wordspot.methods.lsde.pytorch"

    def ranking(self, dim: int, fusion: tuple[float, float] | None = None):
        """The method's `Ranking` (`dim`: the LSDE vector's size; `fusion`: a fused model's weights)."""
        raise NotImplementedError

    def vector_dim(self, lsde_dim: int, phoc_dim: int) -> int:
        """The size of a stored vector."""
        return (lsde_dim if self.lsde else 0) + (phoc_dim if self.phoc else 0)

    def budget(self, minutes: float) -> dict[str, float]:
        """A run's minutes per stage: the string stage up to 6, then 70% / 30% to the image / joint stage (as
        the George Washington figures were trained)."""
        string = min(6.0, 0.15 * minutes)
        rest = minutes - string
        return {"string": string, "image": 0.7 * rest, "joint": 0.3 * rest}

    def fit_settings(self, model, texts: list[str]) -> None:
        """Settings fitted to the training words before training from scratch (`model`: a ModelConfig)."""

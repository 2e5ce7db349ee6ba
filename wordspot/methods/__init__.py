"""Methods (LSDE, PHOC and both): what each says of words, images, losses and distances.

The registry below is the one place that lists them; it imports no PyTorch. Adding a method is a folder with
its `base.py` (a `Method` subclass and its `Ranking`) and `pytorch.py` (its objective), and one line here.
"""

from __future__ import annotations

from wordspot._lazy import forward
from wordspot.methods.base import Method
from wordspot.methods.both.base import Both
from wordspot.methods.lsde.base import LSDE
from wordspot.methods.phoc.base import PHOCMethod

METHODS: dict[str, Method] = {m.name: m for m in (LSDE(), PHOCMethod(), Both())}


def get(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r} (one of {', '.join(METHODS)})") from None


def method_of(config) -> Method:
    """The method of a ModelConfig."""
    return get(config.method)


# names that lived in rankings.py and objectives.py before the methods had folders
__getattr__ = forward(__name__, {
    "Ranking": "ranking", "Rankings": "ranking", "LSDERanking": "lsde.base", "PHOCRanking": "phoc.base",
    "FusedRanking": "both.base", "choose_fusion": "both.base", "FUSION_GRID": "both.base", "PHOC_ALONE": "both.base",
    "FUSION_DEFAULT": "both.base", "PHOC": "phoc.base", "NgramBag": "phoc.base", "prm_distances": "phoc.base",
    "Objective": "objective", "PHOCHead": "objective", "objective_kind": "objective", "Attributes": "phoc.pytorch",
    "Regression": "lsde.pytorch", "Reading": "lsde.pytorch", "ctc_loss": "lsde.pytorch",
})


def ranking_for(method: str, dim: int, fusion: tuple[float, float] | None = None):
    """The ranking of a method by name (`dim`: the LSDE vector's size)."""
    return get(method).ranking(dim, fusion)

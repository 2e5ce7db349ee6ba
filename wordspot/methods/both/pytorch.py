"""The fused method in PyTorch: LSDE's objectives, with the PHOC head's term (`objective.PHOCHead`) weighed in."""

from wordspot.methods.lsde.pytorch import objective_kind

__all__ = ["objective_kind"]

"""The phoc method: its NumPy part (base.py) and its PyTorch part (pytorch.py)."""

"""The two networks of LSDE: a string CNN and an image CNN that map into one Levenshtein space."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class StringCNN(nn.Module):
    """One-hot word (alphabet x position) -> convolution -> fully connected -> D-dim vector.

    Positions are absolute, so the input has a fixed width `max_len`; longer words are refused by
    `Alphabet.onehot`. Training pairs include random strings up to `max_len` so every position is seen.
    """

    def __init__(self, alphabet_size: int, max_len: int = 32, dim: int = 128,
                 channels: int = 128, hidden: int = 1024, layers: int = 2) -> None:
        super().__init__()
        self.max_len = max_len
        convs: list[nn.Module] = []
        for i in range(layers):
            convs += [nn.Conv1d(alphabet_size if i == 0 else channels, channels, 3, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*convs)
        self.fc = nn.Sequential(
            nn.Linear(channels * max_len, hidden), nn.ReLU(),
            nn.Linear(hidden, dim),
        )

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        x = self.conv(onehot)  # (B, C, max_len)
        return self.fc(x.flatten(1))  # (B, dim)


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ImageCNN(nn.Module):
    """Grey word image (ink = 1, any width) -> VGG-style trunk -> temporal pyramid pooling -> vector.

    Each image is treated as if it were alone: features beyond its width are zeroed after every
    layer (what zero padding would give), pooling rounds up, and the pyramid pools over its own
    width. So an embedding does not depend on what else was in the batch.
    """

    def __init__(self, dim: int = 128, channels: tuple[int, ...] = (32, 64, 128, 256),
                 blocks: tuple[int, ...] = (2, 2, 3, 3), levels: tuple[int, ...] = (1, 2, 4),
                 hidden: int = 1024, dropout: float = 0.2, aux_dim: int = 0) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        cin = 1
        for cout, n in zip(channels, blocks):
            convs = []
            for _ in range(n):
                convs.append(_conv(cin, cout))
                cin = cout
            self.stages.append(nn.ModuleList(convs))
        self.levels = tuple(levels)
        self.head = nn.Sequential(
            nn.Linear(cin * sum(levels), hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, dim),
        )
        # optional auxiliary head on the same hidden layer (PHOC attributes as a training signal)
        self.aux = nn.Linear(hidden, aux_dim) if aux_dim else None

    def features(self, x: torch.Tensor, widths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, H, W) -> (B, C, H / 2^k, ceil(W / 2^k)) features and each image's feature width."""
        widths = widths.to(x.device)
        for k, convs in enumerate(self.stages):
            if k > 0:
                x = F.max_pool2d(x, 2, ceil_mode=True)
                widths = torch.div(widths + 1, 2, rounding_mode="floor")
            mask = (torch.arange(x.shape[3], device=x.device)[None, :] < widths[:, None])[:, None, None, :]
            for conv in convs:
                x = conv(x) * mask  # (B, C, h, w); zero beyond each image's width
        return x, widths

    def pool(self, feats: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) features, (B,) feature widths -> (B, C * sum(levels))."""
        cols = feats.amax(dim=2)  # (B, C, w): max over height
        out = []
        for i in range(cols.shape[0]):
            valid = cols[i:i + 1, :, : max(1, int(widths[i]))]
            out.append(torch.cat([F.adaptive_max_pool1d(valid, n).flatten(1) for n in self.levels], 1))
        return torch.cat(out, 0)

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None, aux: bool = False):
        """(B, 1, H, W) padded batch and (B,) true widths -> (B, dim); with `aux`, also (B, aux_dim)."""
        if widths is None:
            widths = torch.full((images.shape[0],), images.shape[3])
        pooled = self.pool(*self.features(images, widths))
        if not aux:
            return self.head(pooled)
        hidden = self.head[:-1](pooled)
        return self.head[-1](hidden), self.aux(hidden)

"""The two networks of LSDE: a string CNN and an image CNN that map into one Levenshtein space."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wordspot.data.text import positions


class StringCNN(nn.Module):
    """One-hot word (alphabet x position) -> convolution -> fully connected -> D-dim vector.

    Positions are absolute, so the input has a fixed width `max_len`; a longer word is squeezed into
    it by `Alphabet.onehot`. Training pairs include random strings up to `max_len` so every position is seen.
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


def trunk_stages(channels: tuple[int, ...], blocks: tuple[int, ...], cin: int = 1) -> nn.ModuleList:
    """The VGG-style trunk: stages of 3x3 convolutions (max-pooled between stages)."""
    stages = nn.ModuleList()
    for cout, n in zip(channels, blocks):
        convs = []
        for _ in range(n):
            convs.append(_conv(cin, cout))
            cin = cout
        stages.append(nn.ModuleList(convs))
    return stages


def run_stage(convs: nn.ModuleList, x: torch.Tensor, widths: torch.Tensor,
              pool: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One trunk stage: max-pool by `pool` (height, width; None: no pool), then the convolutions.
    Features beyond each image's width are zeroed after every layer."""
    if pool:
        x = F.max_pool2d(x, pool, ceil_mode=True)
        if pool[1] == 2:
            widths = torch.div(widths + 1, 2, rounding_mode="floor")
    mask = (torch.arange(x.shape[3], device=x.device)[None, :] < widths[:, None])[:, None, None, :]
    for conv in convs:
        x = conv(x) * mask  # (B, C, h, w)
    return x, widths


def trunk_features(stages: nn.ModuleList, x: torch.Tensor, widths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, H, W) -> (B, C, h, w) features and each image's feature width; pools halve height and
    width between stages."""
    widths = widths.to(x.device)
    for k, convs in enumerate(stages):
        x, widths = run_stage(convs, x, widths, None if k == 0 else (2, 2))
    return x, widths


def pyramid_pool(feats: torch.Tensor, widths: torch.Tensor, levels: tuple[int, ...]) -> torch.Tensor:
    """Temporal pyramid pooling: (B, C, h, w) features, (B,) feature widths -> (B, C * sum(levels)),
    each image max-pooled over its own width only."""
    cols = feats.amax(dim=2)  # (B, C, w): max over height
    out = []
    for i in range(cols.shape[0]):
        valid = cols[i:i + 1, :, : max(1, int(widths[i]))]
        out.append(torch.cat([F.adaptive_max_pool1d(valid, n).flatten(1) for n in levels], 1))
    return torch.cat(out, 0)


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
        self.stages = trunk_stages(channels, blocks)
        cin = channels[-1]
        self.levels = tuple(levels)
        self.head = nn.Sequential(
            nn.Linear(cin * sum(levels), hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, dim),
        )
        # optional auxiliary head on the same hidden layer (PHOC attributes as a training signal)
        self.aux = nn.Linear(hidden, aux_dim) if aux_dim else None

    def features(self, x: torch.Tensor, widths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, H, W) -> (B, C, H / 2^k, ceil(W / 2^k)) features and each image's feature width."""
        return trunk_features(self.stages, x, widths)

    def pool(self, feats: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) features, (B,) feature widths -> (B, C * sum(levels))."""
        return pyramid_pool(feats, widths, self.levels)

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None, aux: bool = False):
        """(B, 1, H, W) padded batch and (B,) true widths -> (B, dim); with `aux`, also (B, aux_dim)."""
        if widths is None:
            widths = torch.full((images.shape[0],), images.shape[3])
        pooled = self.pool(*self.features(images, widths))
        if not aux:
            return self.head(pooled)
        hidden = self.head[:-1](pooled)
        return self.head[-1](hidden), self.aux(hidden)


class ReaderCNN(nn.Module):
    """Word image -> per-frame character log-probabilities (CTC; the blank is the last class).

    The image side of LSDE that reads: its best path, as a soft one-hot (`soft_onehot`), is what the
    string CNN reads, so a word the reader gets right lands on its string vector even if it was
    never seen in training. Same trunk as ImageCNN, with a frame every 4 pixels, then a BiLSTM.
    """

    def __init__(self, classes: int, height: int, channels: tuple[int, ...] = (16, 32, 64, 128),
                 blocks: tuple[int, ...] = (2, 2, 3, 3), hidden: int = 128, dropout: float = 0.2,
                 aux_dim: int = 0, aux_hidden: int = 1024, aux_branch: bool = False) -> None:
        super().__init__()
        self.stages = trunk_stages(channels, blocks)
        rows = -(-height // 2 ** (len(channels) - 1))  # feature rows left after the pools
        self.proj = nn.Linear(channels[-1] * rows, 2 * hidden)
        self.rnn = nn.LSTM(2 * hidden, hidden, num_layers=2, bidirectional=True, dropout=dropout)
        self.out = nn.Linear(2 * hidden, classes)
        self.dropout = dropout
        # optional PHOC head on the pooled trunk: whole-word attributes teach the trunk faster than
        # CTC alone (cv1 validation QbS 84.3 against 82.5 in 25 min, benchmarks/README.md)
        self.levels = (1, 2, 4)
        self.aux = nn.Sequential(
            nn.Linear(channels[-1] * sum(self.levels), aux_hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(aux_hidden, aux_dim),
        ) if aux_dim else None
        # with `aux_branch` the PHOC head pools a last stage of its own (as a PHOC model's, width
        # halved) beside the reader's, so that reading and attributes share only the early stages
        self.aux_stage = trunk_stages(channels[-1:], blocks[-1:], cin=channels[-2])[0] \
            if aux_dim and aux_branch and len(channels) > 1 else None

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None, aux: bool = False):
        """(B, 1, H, W), (B,) widths -> (T, B, classes) log-probabilities and (B,) frame counts;
        with `aux`, also (B, aux_dim) PHOC logits (None without a PHOC head)."""
        if widths is None:
            widths = torch.full((images.shape[0],), images.shape[3])
        shared, w = trunk_features(self.stages[:-1], images, widths)
        # the last pool halves only the height: a frame every 4 pixels for reading
        x, frames = run_stage(self.stages[-1], shared, w, (2, 1) if len(self.stages) > 1 else None)  # (B, C, h, T)
        aux_in = run_stage(self.aux_stage, shared, w, (2, 2)) if aux and self.aux_stage is not None else (x, frames)
        aux_out = self.aux(pyramid_pool(*aux_in, self.levels)) if aux and self.aux is not None else None
        B, C, h, T = x.shape
        seq = x.permute(3, 0, 1, 2).reshape(T, B, C * h)  # (T, B, C * h)
        seq = F.relu(self.proj(F.dropout(seq, self.dropout, self.training)))
        frames = frames.clamp(min=1)
        packed = nn.utils.rnn.pack_padded_sequence(seq, frames.cpu(), enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=T)  # (T, B, 2 * hidden)
        logp = self.out(out).log_softmax(-1)
        return (logp, frames, aux_out) if aux else (logp, frames)


def best_paths(logp: torch.Tensor, frames: torch.Tensor) -> list[tuple[list[int], list[list[int]]]]:
    """(T, B, A + 1) CTC log-probabilities -> for each item the classes of its best path (argmax per
    frame, repeats merged, blanks dropped: what it reads) and the frames of each."""
    blank = logp.shape[2] - 1
    best = logp.argmax(-1).cpu()  # (T, B)
    out = []
    for b in range(logp.shape[1]):
        classes: list[int] = []
        segments: list[list[int]] = []
        prev = blank
        for t, c in enumerate(best[: int(frames[b]), b].tolist()):
            if c != blank:
                if c == prev:
                    segments[-1].append(t)
                else:
                    classes.append(c)
                    segments.append([t])
            prev = c
        out.append((classes, segments))
    return out


def soft_onehot(logp: torch.Tensor, frames: torch.Tensor, max_len: int, both_ends: bool) -> torch.Tensor:
    """(T, B, A + 1) CTC log-probabilities -> (B, A or 2A, max_len): the string CNN's input, softly.

    The best path (argmax per frame, repeats merged, blanks dropped) gives the characters read; each
    takes the mean of its frames' character probabilities (blank left out, renormalised), placed as
    `Alphabet.onehot` places a word. Differentiable in the probabilities, so training can reach the
    reader through the string CNN.
    """
    T, B, classes = logp.shape
    A = classes - 1
    probs = logp.exp()
    out = torch.zeros(B, 2 * A if both_ends else A, max_len, device=logp.device)
    for b, (_, segments) in enumerate(best_paths(logp, frames)):
        left, right, weight = positions(len(segments), max_len)  # a long reading squeezed, as a long word
        for k, seg in enumerate(segments):
            p = probs[seg, b, :A].mean(0)
            p = p / p.sum().clamp(min=1e-8)
            out[b, :A, int(left[k])] += float(weight[k]) * p
            if both_ends:
                out[b, A:, int(right[k])] += float(weight[k]) * p
    return out

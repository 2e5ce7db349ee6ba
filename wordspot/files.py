"""Reading and writing wordspot's files safely.

Writes go to a temporary file beside the target and are renamed over it, so a crash never leaves
half a file. Model and training-state files hold nested dicts of tensors, numbers and strings,
stored as a NumPy .npz archive (one array per tensor) plus a JSON tree: loading one never unpickles
anything, so a crafted file cannot run code.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from wordspot.errors import WordspotError

MAGIC = "wordspot-tree"
MAX_FILE = 4 * 2**30  # bytes of arrays in one model or checkpoint file, at most (a default model: ~30 MB)
MAX_EXPANSION = 50  # a member may decompress to this many times its stored size (weights: about 1.1)
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: setting it is the only way to read it


class FileFormatError(WordspotError):
    """A file that is not what it should be: the message names it and says why."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed over `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; the file gets the mode any new file would
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# ---- trees of tensors -----------------------------------------------------------------------------
def _is_tensor(obj) -> bool:
    # without importing torch: a tree of NumPy arrays is written without it
    return "torch" in sys.modules and isinstance(obj, sys.modules["torch"].Tensor)


def _encode(obj, arrays: dict[str, np.ndarray]):
    """A JSON-able skeleton of `obj`; tensors and arrays are moved into `arrays` and named in it."""
    if _is_tensor(obj):
        key = f"t{len(arrays)}"
        arrays[key] = obj.detach().cpu().numpy()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        key = f"t{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, (bool, str)) or obj is None:
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if np.isfinite(v) else {"__float__": repr(v)}  # JSON has no NaN or infinity
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, arrays) for k, v in obj.items()}
        return {"__items__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays) for v in obj]
    raise TypeError(f"cannot store a {type(obj).__name__} in a wordspot file")


def _decode(obj, arrays, tensors: bool = True):
    if isinstance(obj, list):
        return [_decode(v, arrays, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        if not tensors:
            return np.array(arrays[obj["__tensor__"]])
        import torch
        return torch.from_numpy(np.array(arrays[obj["__tensor__"]]))
    if "__array__" in obj:
        return np.array(arrays[obj["__array__"]])
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__items__" in obj:
        return {_decode(k, arrays, tensors): _decode(v, arrays, tensors) for k, v in obj["__items__"]}
    return {k: _decode(v, arrays, tensors) for k, v in obj.items()}


def save_tree(tree: dict, path: str | Path) -> None:
    """Write a dict of tensors, numbers, strings, lists and dicts atomically."""
    arrays: dict[str, np.ndarray] = {}
    skeleton = _encode(tree, arrays)
    buf = io.BytesIO()
    np.savez(buf, __tree__=np.array(json.dumps({"magic": MAGIC, "tree": skeleton})), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def is_torch_pickle(path: Path) -> bool:
    """A file written by torch.save (a zip holding data.pkl): wordspot's format before version 3."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("data.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


class _Refused(Exception):
    """A member of a wordspot file that is refused before it is decompressed."""


def _keys(skeleton, out: set[str]) -> set[str]:
    """The array members a tree's skeleton refers to."""
    if isinstance(skeleton, list):
        for v in skeleton:
            _keys(v, out)
    elif isinstance(skeleton, dict):
        for k in ("__tensor__", "__array__"):
            if isinstance(skeleton.get(k), str):
                out.add(skeleton[k])
        for v in skeleton.values():
            _keys(v, out)
    return out


def _member(z: zipfile.ZipFile, name: str, limit: int) -> np.ndarray:
    """One .npy member, its declared sizes checked before anything is decompressed or allocated:
    a small file must not make wordspot allocate gigabytes (a member of zeros compresses 1000:1)."""
    try:
        info = z.getinfo(name + ".npy")
    except KeyError:
        raise _Refused(f"member {name} is missing") from None
    if info.file_size > min(limit, MAX_EXPANSION * info.compress_size + 2**20):
        raise _Refused(f"member {name} would expand to {info.file_size:,} bytes from {info.compress_size:,}")
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise _Refused(f"member {name} has .npy format {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject:
            raise _Refused(f"member {name} holds Python objects")
        if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize + f.tell() != info.file_size:
            raise _Refused(f"member {name} declares an array of shape {shape} that its size does not hold")
        data = f.read()
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def load_tree(path: str | Path, tensors: bool = True, limit: int = MAX_FILE) -> dict:
    """Read a file written by `save_tree`; nothing in it is unpickled. With `tensors=False`,
    tensors come back as NumPy arrays (and PyTorch is not imported).

    Members are read one by one, and only those the tree names: an unknown member, one larger than
    `limit` bytes, or one that would expand far beyond its stored size is refused unread."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = {i.filename.removesuffix(".npy") for i in z.infolist()}
            head = json.loads(str(_member(z, "__tree__", 64 * 2**20)))
            if not isinstance(head, dict) or head.get("magic") != MAGIC or "tree" not in head:
                raise ValueError("no wordspot header")
            wanted = _keys(head["tree"], set())
            unknown = names - wanted - {"__tree__"}
            if unknown:
                raise _Refused(f"{len(unknown)} member(s) the file does not use ({sorted(unknown)[0]})")
            arrays, total = {}, 0
            for key in sorted(wanted):
                arrays[key] = _member(z, key, limit - total)
                total += arrays[key].nbytes
    except Exception as e:  # numpy and zipfile raise many types for a damaged or foreign file
        if is_torch_pickle(path):
            raise FileFormatError(f"{path}: a model or checkpoint in the old pickle format, which wordspot no "
                                  f"longer opens as it is (a pickle can run code); convert it once with "
                                  f"`wordspot model upgrade {path}`") from None
        if isinstance(e, _Refused):
            raise FileFormatError(f"{path}: refused: {e} (a damaged or crafted file)") from None
        raise FileFormatError(f"{path}: not a readable wordspot file ({type(e).__name__})") from None
    return _decode(head["tree"], arrays, tensors)


def upgrade_torch_file(path: str | Path, out: str | Path | None = None) -> Path:
    """Rewrite an old torch.save checkpoint in the safe format. Read with torch's restricted
    loader (weights_only: tensors, numbers and containers only), so it cannot run code either."""
    path = Path(path)
    import torch
    if not is_torch_pickle(path):
        raise FileFormatError(f"{path}: not an old-format wordspot file (nothing to upgrade)")
    try:
        with torch.serialization.safe_globals([np.core.multiarray.scalar, np.dtype,
                                               type(np.dtype(np.float64))]):
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise FileFormatError(f"{path}: refused by the restricted loader, not upgraded "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if not isinstance(blob, dict) or blob.get("kind") not in ("model", "train-state"):
        raise FileFormatError(f"{path}: not a wordspot model or checkpoint")
    target = Path(out) if out else path
    save_tree(blob, target)
    return target

"""The index folder (store.py) and search (search.py): crash safety, resume, append, float16,
exact search against a naive ranking, approximate search against exact, shards."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from wordspot.data import load_folder
from wordspot.data.text import Alphabet
from wordspot.evaluation.metrics import ranking
from wordspot.index.build import Crop, Index, dataset_crops, index_crops, open_index, open_shards, write_index
from wordspot.index.store import IndexFileError
from wordspot.methods.phoc.base import PHOC
from wordspot.model.embedder import Embedder, ModelConfig
from wordspot.search import backend, exact
from wordspot.search.query import Searcher

WORDS = ["orders", "order", "letters", "great", "greater", "camp", "fort", "the", "then", "virginia"]


def _model(method: str) -> Embedder:
    """An untrained model: the search must give its rankings whatever its weights."""
    torch.manual_seed(0)  # the same weights whichever tests ran before
    cfg = ModelConfig(dim=16, max_len=16, string_channels=8, string_hidden=32, image_height=32,
                      image_channels=[4, 4], image_blocks=[1, 1], image_hidden=16, method=method,
                      phoc_bigrams=PHOC.from_words(WORDS).bigrams if method != "lsde" else [])
    return Embedder(cfg, Alphabet.from_words(WORDS))


def _index(emb: Embedder, n: int, seed: int = 0) -> Index:
    """Vectors in clusters around what a query by string gives: each word's images near its string
    vector (LSDE), with logits that read its PHOC well (PHOC); a fused model's have both parts."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % len(WORDS)
    parts = []
    if emb.config.method != "phoc":
        centres = emb.embed_strings(WORDS)[:, :emb.config.dim]  # an untrained model's: close together
        spread = np.median(np.linalg.norm(centres[:, None] - centres[None], axis=2))
        parts.append(centres[label] + rng.normal(0, 0.3 * spread / np.sqrt(emb.config.dim), (n, emb.config.dim)))
    if emb.config.method != "lsde":
        centres = 8.0 * (emb.phoc or emb.aux_phoc).encode(WORDS) - 4.0
        parts.append(centres[label] + rng.normal(0, 1, (n, centres.shape[1])))
    vectors = np.hstack(parts).astype(np.float32)
    crops = [Crop(f"/pages/p{i // 50}.png", f"p{i // 50}", (i % 50, 0, i % 50 + 5, 9), WORDS[i % len(WORDS)])
             for i in range(n)]
    return Index(vectors, crops, emb.model_id())


@pytest.mark.parametrize("method", ["lsde", "phoc", "both"])
@pytest.mark.parametrize("kind", ["qbs", "qbe"])
def test_exact_search_is_the_naive_ranking(method, kind, monkeypatch):
    emb = _model(method)
    idx = _index(emb, 500)
    monkeypatch.setattr(exact, "CHUNK", 37)  # several chunks, the last one short
    if kind == "qbs":
        queries, dist = emb.embed_strings(WORDS[:4]), emb.string_distances
    else:
        queries, dist = idx.vectors[:4], emb.image_distances
    prepared = exact.Prepared(emb, idx.vectors, kind if kind in emb.search_kinds() else "qbs")
    for q in queries:
        naive = ranking(dist(q[None, :], idx.vectors)[0])[:10]  # every row, one distance each
        for prep in (None, prepared):
            form = kind if kind in emb.search_kinds() else "qbs"
            ids = exact.candidates(emb, idx.vectors, q[None, :], form, 72, prep)[0]
            got = exact.rank(emb, idx.vectors, q, ids, kind, 10)
            assert [r for r, _ in got] == list(naive)
            np.testing.assert_allclose([d for _, d in got], dist(q[None, :], idx.vectors)[0][naive], rtol=1e-9)


def test_write_open_float16_and_append(tmp_path):
    emb = _model("lsde")
    idx = _index(emb, 300)
    full = write_index(idx, tmp_path / "a.idx")
    half = write_index(idx, tmp_path / "h.idx", dtype="float16")
    assert half.vectors.dtype == np.float16 and len(half) == 300
    size = {p: sum(f.stat().st_size for f in (tmp_path / p).glob("vectors-*")) for p in ("a.idx", "h.idx")}
    assert size["h.idx"] * 2 == size["a.idx"]
    q = emb.embed_strings(["great"])[0]
    top = Searcher(emb, [full]).nearest(q, "qbs", 300)
    exact = {h.row: h.distance for h in top}
    # float16 may swap near-ties, nothing more: its top five are as near as float32's fifth, give or take
    # float16's rounding (half a unit in the last of 11 bits of the vectors' coordinates)
    got = [h.row for h in Searcher(emb, [half]).nearest(q, "qbs", 5)]
    assert all(exact[r] <= top[4].distance * (1 + 2e-3) + 1e-3 for r in got)
    # append: the crops already in the index are skipped, new ones added after them
    more = _index(emb, 350, seed=1)
    more.crops[300:] = [Crop(f"/new/{i}.png", "new", None, "camp") for i in range(50)]
    appended = write_index(more, tmp_path / "a.idx", append=True)
    assert len(appended) == 350
    assert appended.crops_at([349])[0] == Crop("/new/49.png", "new", None, "camp")
    np.testing.assert_array_equal(appended.vectors[:300], idx.vectors)
    assert appended.find("/new/3.png", None) == 303 and appended.find("/pages/p0.png", (2, 0, 7, 9)) == 2
    other = Index(more.vectors, more.crops, "another-model")
    with pytest.raises(IndexFileError, match="built by model"):
        write_index(other, tmp_path / "a.idx", append=True)
    assert len(open_index(tmp_path / "a.idx")) == 350  # the refused append changed nothing


def test_shards_search_as_one_index(tmp_path):
    emb = _model("lsde")
    idx = _index(emb, 400)
    write_index(Index(idx.vectors[:150], idx.crops[:150], idx.model_id), tmp_path / "coll" / "s0.idx")
    write_index(Index(idx.vectors[150:], idx.crops[150:], idx.model_id), tmp_path / "coll" / "s1.idx")
    whole = write_index(idx, tmp_path / "whole.idx")
    shards = open_shards([tmp_path / "coll"])
    assert len(shards) == 2
    q = emb.embed_strings(["letters"])[0]
    got = [(h.crop, round(h.distance, 5)) for h in Searcher(emb, shards).nearest(q, "qbs", 15)]
    want = [(h.crop, round(h.distance, 5)) for h in Searcher(emb, [whole]).nearest(q, "qbs", 15)]
    assert got == want
    hits = Searcher(emb, shards).by_crop(1, 10, k=5)  # a hit of shard 1 as the next query: itself left out
    assert all((h.shard, h.row) != (1, 10) for h in hits) and len(hits) == 5
    # a shard still being built (only build.json) is left out with a warning, not a refusal of all
    (tmp_path / "coll" / "s2.idx").mkdir()
    (tmp_path / "coll" / "s2.idx" / "build.json").write_text("{}")
    with pytest.warns(UserWarning, match="1 unfinished shard\\(s\\) left out \\(s2.idx\\)"):
        assert len(open_shards([tmp_path / "coll"])) == 2
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "s0.idx").mkdir()
    (tmp_path / "none" / "s0.idx" / "build.json").write_text("{}")
    with pytest.warns(UserWarning), pytest.raises(IndexFileError, match="no finished index"):
        open_shards([tmp_path / "none"])


@pytest.mark.parametrize("method", ["lsde", "phoc", "both"])
def test_approximate_search_recall_against_exact(method, tmp_path):
    emb = _model(method)
    idx = _index(emb, 3000)
    store = write_index(idx, tmp_path / "a.idx")
    info = backend.build_approximate(emb, tmp_path / "a.idx", 1, store.vectors)
    assert set(info) == set(emb.search_kinds())
    for kind, v in info.items():
        assert v["recall_at_10"] >= backend.RECALL and (tmp_path / "a.idx" / v["file"]).is_file()
    meta = json.loads((tmp_path / "a.idx" / "index.json").read_text())
    (tmp_path / "a.idx" / "index.json").write_text(json.dumps({**meta, "ann": info}))
    approx, exact = Searcher(emb, [open_index(tmp_path / "a.idx")]), Searcher(emb, [store], exact=True)
    assert approx.ann[0] and not exact.ann[0]
    found = []
    for w in WORDS:
        a = {h.row for h in approx.by_string(w, 10)}
        e = {h.row for h in exact.by_string(w, 10)}
        found.append(len(a & e) / 10)
    assert np.mean(found) >= 0.9
    # asked for more than the nearest clusters hold, it says so instead of answering short in silence
    hits = approx.by_string(WORDS[0], 2900)
    assert len(hits) < 2900 and "found %d of the 2900 hits" % len(hits) in approx.shortfall(hits, 2900)
    assert exact.shortfall(exact.by_string(WORDS[0], 2900), 2900) == ""
    # an approximate index file is bounded by what it can hold, and must index this index's rows
    ann = tmp_path / "a.idx" / info[emb.search_kinds()[0]]["file"]
    with open(ann, "ab") as f:
        f.truncate(ann.stat().st_size + 2**30)  # a gigabyte more than such an index can hold (sparse)
    with pytest.raises(Exception, match="damaged approximate index.*larger than"):
        Searcher(emb, [open_index(tmp_path / "a.idx")])
    ann.write_bytes(b"\0" * 100)
    with pytest.raises(Exception, match="damaged approximate index"):
        Searcher(emb, [open_index(tmp_path / "a.idx")])


KILL_AFTER_TWO_CHUNKS = textwrap.dedent("""
    import os, signal, sys
    from wordspot.data import load_folder
    from wordspot.model.embedder import Embedder
    from wordspot.index.build import dataset_crops, index_crops
    from wordspot.progress import Reporter

    class Killer(Reporter):
        seen = 0
        def advance(self, n=1, **kw):
            self.seen += 1
            if self.seen == 3:  # two chunks written: die as kill -9 would, with no cleanup
                os.kill(os.getpid(), signal.SIGKILL)

    crops = dataset_crops(load_folder(sys.argv[2]).subset("all"))
    index_crops(Embedder.load(sys.argv[1]), crops, sys.argv[3], chunk=8, reporter=Killer())
""")


def test_killed_build_leaves_the_old_index_and_a_rerun_continues(tiny_run, tiny_data, tmp_path):
    emb = Embedder.load(tiny_run)
    crops = dataset_crops(load_folder(tiny_data).subset("all"))
    out = tmp_path / "a.idx"
    index_crops(emb, crops[:5], out)  # the previous index
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"}
    r = subprocess.run([sys.executable, "-c", KILL_AFTER_TWO_CHUNKS, str(tiny_run), str(tiny_data), str(out)])
    assert r.returncode == -9
    job = json.loads((out / "build.json").read_text())
    assert job["done"] == 16  # two chunks of 8
    # a half-written third chunk: bytes past the rows it counts
    with open(next(p for p in out.glob("vectors-*.bin") if p.name not in before), "ab") as f:
        f.write(b"\0" * 100)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in before} == before  # intact
    assert len(open_index(out)) == 5
    stats = index_crops(emb, crops, out)  # the same command again
    assert stats["resumed"] == 16 and stats["total"] == len(crops)
    clean = tmp_path / "clean.idx"
    index_crops(emb, crops, clean)
    a, b = open_index(out), open_index(clean)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5)
    assert a.crops == b.crops
    assert not (out / "build.json").exists() and len(list(out.glob("vectors-*"))) == 1  # old generation gone


def test_an_edit_radius_needs_an_lsde_part(tmp_path):
    phoc = _model("phoc")
    store = write_index(_index(phoc, 50), tmp_path / "p.idx")
    with pytest.raises(Exception, match="needs a model with an LSDE part"):
        Searcher(phoc, [store]).by_string("great~1")
    both = _model("both")
    store = write_index(_index(both, 50), tmp_path / "b.idx")
    hits = Searcher(both, [store]).by_string("great~3", 5)
    assert all(h.distance <= 3.5 for h in hits)

"""Indexing on a Dask cluster (its own local cluster here): shards, manifest, retries, reruns."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from wordspot.cli import app
from wordspot.data import load_folder
from wordspot.index.build import dataset_crops, index_crops
from wordspot.index.distributed import index_on_cluster, index_shard, plan
from wordspot.index.store import open_shards
from wordspot.model.embedder import Embedder
from wordspot.search.query import Searcher

pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def crops(tiny_data):
    return dataset_crops(load_folder(tiny_data).subset("all"))[:70]


def _ranking(emb, shards, word="great"):
    return [(h.crop, round(h.distance, 4)) for h in Searcher(emb, shards, exact=True).by_string(word, 30)]


def test_plan_keeps_the_order_and_cuts_evenly(crops):
    shards = plan(crops, 30)
    assert [len(s) for s in shards] == [30, 30, 10] and [c for s in shards for c in s] == crops


def test_an_archive_on_a_local_cluster_searches_as_one_index(tiny_run, crops, tmp_path):
    emb = Embedder.load(tiny_run)
    index_crops(emb, crops, tmp_path / "one.idx")
    stats = index_on_cluster(tiny_run / "model.pt", crops, tmp_path / "archive", workers=2, shard_size=30)
    assert stats["crops"] == 70 and stats["shards"] == 3 and stats["already"] == 0
    manifest = json.loads((tmp_path / "archive" / "manifest.json").read_text())
    assert [s["name"] for s in manifest["shards"]] == ["shard-00000.idx", "shard-00001.idx", "shard-00002.idx"]
    shards = open_shards([tmp_path / "archive"])
    assert [len(s) for s in shards] == [30, 30, 10]
    assert _ranking(emb, shards) == _ranking(emb, open_shards([tmp_path / "one.idx"]))
    # the same job again: every shard is there already, nothing is embedded
    again = index_on_cluster(tiny_run / "model.pt", crops, tmp_path / "archive", workers=1, shard_size=30)
    assert again["crops"] == 0 and again["already"] == 70 and again["shards_run"] == 0
    # other crops into the same archive are refused, not mixed in
    with pytest.raises(Exception, match="planned with other crops"):
        index_on_cluster(tiny_run / "model.pt", crops[:50], tmp_path / "archive", workers=1, shard_size=30)


def test_a_worker_killed_mid_shard_loses_and_doubles_nothing(tiny_run, crops, tmp_path):
    marker = tmp_path / "kill-once"
    marker.write_text("")

    def task(model_path, shard, out, dtype, threads):
        # the first attempt at the second shard dies, as kill -9 would, after writing two chunks
        if out.endswith("shard-00001.idx") and os.path.exists(marker):
            from wordspot.index.store import Crop
            from wordspot.model.embedder import Embedder
            from wordspot.progress import Reporter

            class Die(Reporter):
                seen = 0

                def advance(self, n=1, **kw):
                    self.seen += 1
                    if self.seen == 3:
                        os.unlink(marker)
                        os._exit(1)
            cs = [Crop(c["source"], c["page"], tuple(c["box"]) if c["box"] else None, c["text"]) for c in shard]
            index_crops(Embedder.load(model_path), cs, out, dtype=dtype, ann=False, reporter=Die(), chunk=8)
        return index_shard(model_path, shard, out, dtype, threads)

    stats = index_on_cluster(tiny_run / "model.pt", crops, tmp_path / "archive", workers=2, shard_size=30, task=task)
    assert not marker.exists()  # the worker did die
    assert stats["crops"] + stats["already"] <= 70 and stats["shards"] == 3
    shards = open_shards([tmp_path / "archive"])
    rows = [(c.source, c.box) for s in shards for c in s.crops_at(range(len(s)))]
    assert len(rows) == 70 and sorted(rows) == sorted((os.path.abspath(c.source), c.box) for c in crops)
    emb = Embedder.load(tiny_run)
    index_crops(emb, crops, tmp_path / "one.idx")
    assert _ranking(emb, shards) == _ranking(emb, open_shards([tmp_path / "one.idx"]))


def test_cluster_option_of_the_index_command(tiny_run, tiny_data, tmp_path):
    r = CliRunner().invoke(app, ["index", str(tiny_run), "--data", str(tiny_data), "--subset", "test",
                                 "--out", str(tmp_path / "arch"), "--cluster", "local:1", "--shard-size", "30",
                                 "--plain"])
    assert r.exit_code == 0, r.output
    assert "shard(s) on 1 host(s)" in r.output
    r = CliRunner().invoke(app, ["query", str(tmp_path / "arch"), "great", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["hits"]
    for bad, words in ((["--cluster", "local:x"], "local:N"), (["--cluster", "http://x"], "scheduler address"),
                       (["--cluster", "local:1", "--append"], "--append")):
        r = CliRunner().invoke(app, ["index", str(tiny_run), "--data", str(tiny_data), "--out",
                                     str(tmp_path / "b"), *bad])
        assert r.exit_code == 1 and words in r.output and "Traceback" not in r.output


# ---- search across machines: a front over several `wordspot serve` processes ---------------------
def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(index, port):
    import subprocess
    import sys
    import time

    import httpx
    proc = subprocess.Popen([sys.executable, "-c", "from wordspot.cli import app; app()", "serve", str(index),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode())
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start")


def test_a_front_over_two_server_processes_merges_and_reports_the_one_down(tiny_run, crops, tmp_path):
    from fastapi.testclient import TestClient

    from wordspot.serve.front import connect, create_front
    emb = Embedder.load(tiny_run)
    index_crops(emb, crops[:40], tmp_path / "a.idx", model_path=str(tiny_run / "model.pt"))
    index_crops(emb, crops[40:], tmp_path / "b.idx", model_path=str(tiny_run / "model.pt"))
    index_crops(emb, crops, tmp_path / "all.idx")
    ports = [_free_port(), _free_port()]
    procs = [_serve(tmp_path / "a.idx", ports[0]), _serve(tmp_path / "b.idx", ports[1])]
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        front = TestClient(create_front(connect(urls)), base_url="http://127.0.0.1")
        whole = Searcher(emb, open_shards([tmp_path / "all.idx"]), exact=True)
        got = front.get("/api/search", params={"q": "great", "k": 15}).json()
        want = whole.by_string("great", 15)
        assert [(h["text"], round(h["distance"], 3)) for h in got["hits"]] == \
               [(h.crop.text, round(h.distance, 3)) for h in want]
        assert {h["server"] for h in got["hits"]} == set(urls) and "unavailable" not in got
        assert front.get("/api/info").json()["crops"] == 70
        # a hit of the second server as the next query: its vector, searched on both, itself left out
        h = next(h for h in got["hits"] if h["server"] == urls[1])
        like = front.get("/api/search/crop", params={"shard": h["shard"], "row": h["row"], "k": 5}).json()
        assert len(like["hits"]) == 5 and all((x["shard"], x["row"]) != (h["shard"], h["row"]) for x in like["hits"])
        assert front.get(h["thumb"]).headers["content-type"] == "image/png"
        with open(crops[0].source, "rb") as f:
            up = front.post("/api/search/image", files={"file": ("w.png", f.read(), "image/png")}, params={"k": 3})
        assert up.status_code == 200 and len(up.json()["hits"]) == 3
        assert front.get("/api/search", params={"q": "!!!"}).status_code == 400  # both refuse it: a 4xx
        # one server down: the other still answers, and the answer says which did not
        procs[1].kill()
        procs[1].wait()
        down = front.get("/api/search", params={"q": "great", "k": 15})
        assert down.status_code == 200
        body = down.json()
        assert body["unavailable"][0]["server"] == urls[1] and body["hits"]
        assert {h["server"] for h in body["hits"]} == {urls[0]}
        assert front.get(h["thumb"]).status_code == 503
        with pytest.raises(Exception, match="not a wordspot server that answers"):
            connect(urls)
    finally:
        for p in procs:
            p.kill()
            p.wait()

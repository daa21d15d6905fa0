"""`python -m app score|embed --scheduler`: chunks as dask.distributed tasks on a LocalCluster of
2 worker processes on loopback give the single-process outputs, a killed worker's chunks are
redone, a rerun skips what is done, and the pack's hash is checked on the worker (issue 13
section 3)."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from app.__main__ import main  # noqa: E402
from app.batch_command import Options, run_to_dir  # noqa: E402
from app.core import dask_tasks  # noqa: E402
from app.core.batch_jobs import ScoreWork  # noqa: E402
from app.core.distributed import start_client  # noqa: E402
from app.core.fasta import read_fasta  # noqa: E402
from app.core.pack import load_pack  # noqa: E402
from app.core.pack_error import PackError  # noqa: E402
from app.core.provenance import Provenance  # noqa: E402
from app.core.scheduler_spec import SchedulerSpec, parse_scheduler  # noqa: E402

AA = "ACDEFGHIKLMNPQRSTVWY"


def _fasta(path: Path, n: int, seed: int = 3, lo: int = 5, hi: int = 80) -> Path:
    rng = np.random.default_rng(seed)
    path.write_text("".join(f">sp|Q{i:05d}|D{i}\n{''.join(rng.choice(list(AA), int(rng.integers(lo, hi))))}\n"
                            for i in range(n)))
    return path


@pytest.fixture(scope="module")
def cluster():
    """(client, scheduler address): 2 worker processes, 1 thread each, on 127.0.0.1."""
    client, local = start_client(SchedulerSpec(2))
    client.wait_for_workers(2, timeout=60)
    yield client, local.scheduler_address
    client.close()
    local.close()


def _score(pack: Path, fa: Path, out: Path, *extra: str) -> int:
    return main(["score", "--model", str(pack), "--fasta", str(fa), "--out", str(out), "--threads", "1",
                 "--chunk", "4", *extra])


def test_scheduler_values_are_checked_before_dask_is_needed(tmp_path, capsys):
    assert parse_scheduler("local:3") == SchedulerSpec(3)
    assert parse_scheduler("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    for bad in ("local:0", "local:x", "tcp://host", "http://h:1", "tcp://h:99999"):
        with pytest.raises(ValueError, match="--scheduler"):
            parse_scheduler(bad)
    fa = _fasta(tmp_path / "in.fa", 2)
    with pytest.raises(SystemExit):
        main(["score", "--fasta", str(fa), "--out", str(tmp_path / "o"), "--scheduler", "tcp://nohost"])
    assert "expected local, local:N or tcp://HOST:PORT" in capsys.readouterr().err
    assert main(["score", "--fasta", str(fa), "--out", str(tmp_path / "o.csv"), "--scheduler", "local:2"]) == 2
    assert "--scheduler needs --out DIR" in capsys.readouterr().err


def test_cluster_scores_equal_single_process_and_workers_keep_one_session(cluster, tiny_pack_dir, tmp_path):
    client, address = cluster
    fa = _fasta(tmp_path / "in.fa", 24)
    assert _score(tiny_pack_dir, fa, tmp_path / "single") == 0
    assert _score(tiny_pack_dir, fa, tmp_path / "dask", "--scheduler", address) == 0
    assert (tmp_path / "dask" / "scores.csv").read_bytes() == (tmp_path / "single" / "scores.csv").read_bytes()
    assert (tmp_path / "dask" / "summary.csv").read_text() == (tmp_path / "single" / "summary.csv").read_text()
    # 6 chunks over 2 workers, one warm session per worker process; telemetry off there
    sessions = client.run(lambda: len(dask_tasks._runtimes))
    assert set(sessions.values()) <= {0, 1} and sum(sessions.values()) >= 1
    assert set(client.run(lambda: os.environ.get("ORT_DISABLE_TELEMETRY")).values()) == {"1"}
    info = client.scheduler_info()  # loopback only
    assert info["address"].startswith("tcp://127.0.0.1:") and all(w.startswith("tcp://127.0.0.1:") for w in info["workers"])


def test_cluster_embeddings_equal_single_process(cluster, tiny_pack_dir, tmp_path):
    fa = _fasta(tmp_path / "in.fa", 10)
    address = cluster[1]
    base = ["embed", "--model", str(tiny_pack_dir), "--fasta", str(fa), "--threads", "1", "--chunk", "3"]
    assert main(base + ["--out", str(tmp_path / "single")]) == 0
    client, _ = cluster
    client.run(lambda: dask_tasks._runtimes.clear() or dask_tasks._planners.clear())  # load anew, from bytes
    assert main(base + ["--out", str(tmp_path / "dask"), "--scheduler", address, "--ship-pack", "bytes"]) == 0
    loaded = [p for paths in client.run(lambda: [str(r.pack.path) for r in dask_tasks._runtimes.values()]).values()
              for p in paths]
    assert loaded and all("edgefold-pack-" in p and str(tiny_pack_dir) not in p for p in loaded)
    for rec in read_fasta(fa):
        stem = rec.id.replace("|", "_")
        np.testing.assert_allclose(np.load(tmp_path / "dask" / f"{stem}.per_residue.npy"),
                                   np.load(tmp_path / "single" / f"{stem}.per_residue.npy"), rtol=1e-6, atol=1e-6)


def test_rerun_on_the_cluster_skips_what_is_done(cluster, tiny_pack_dir, tmp_path, capsys):
    _, address = cluster
    fa = _fasta(tmp_path / "all.fa", 30)
    first = tmp_path / "first.fa"
    first.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in read_fasta(fa)[:20]))
    out = tmp_path / "out"
    assert _score(tiny_pack_dir, first, out, "--scheduler", address) == 0
    capsys.readouterr()
    assert _score(tiny_pack_dir, fa, out, "--scheduler", address, "--resume") == 0
    err = capsys.readouterr().err
    assert "resume: 20 of 30 record(s) already done" in err and "computed 10, skipped 20" in err
    assert _score(tiny_pack_dir, fa, tmp_path / "fresh") == 0
    assert (out / "scores.csv").read_bytes() == (tmp_path / "fresh" / "scores.csv").read_bytes()


def test_the_pack_hash_is_checked_on_the_worker(tiny_pack_dir):
    """run on this process as a worker would: shipped bytes of another pack, or a damaged file."""
    from app.core.distributed import pack_files

    sha = Provenance.of_pack(tiny_pack_dir, "x").pack_sha256
    with pytest.raises(PackError, match="is not the client's"):
        dask_tasks.runtime_for(dask_tasks.PackRef("0" * 64), 1, pack_files(tiny_pack_dir))
    files = pack_files(tiny_pack_dir)
    model = load_pack(tiny_pack_dir).manifest["onnx"]["model"]
    files[model] = files[model][:-1] + bytes([files[model][-1] ^ 1])
    with pytest.raises(PackError, match="sha256"):
        dask_tasks.runtime_for(dask_tasks.PackRef(sha), 1, files)
    assert sha not in dask_tasks._runtimes
    by_path = dask_tasks.runtime_for(dask_tasks.PackRef(sha, str(tiny_pack_dir)), 1)
    assert dask_tasks.runtime_for(dask_tasks.PackRef(sha), 1, pack_files(tiny_pack_dir)) is by_path


def test_a_killed_workers_chunks_are_redone(cluster, tiny_pack_dir, tmp_path):
    client, address = cluster
    fa = _fasta(tmp_path / "in.fa", 40, lo=150, hi=300)
    records = read_fasta(fa)
    pack = load_pack(tiny_pack_dir)
    provenance = Provenance.of_pack(pack.path, "wt-marginal", pack.name, pack.scheme)
    killed: dict = {}

    def kill_a_busy_worker(done, total, message):
        if killed:
            return
        for addr, keys in client.processing().items():
            if keys:
                killed.update(pid=client.run(os.getpid, workers=[addr])[addr], keys=list(keys))
                os.kill(killed["pid"], signal.SIGKILL)
                return
    options = Options(token_budget=4096, chunk=1, scheduler=address, threads=1)
    (tmp_path / "dask").mkdir()
    outcome = run_to_dir(None, pack.path, ScoreWork("wt-marginal"), records, tmp_path / "dask", provenance,
                         options, kill_a_busy_worker, lambda text: None)
    assert killed and outcome.counts == {"done": 40}
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    assert _score(tiny_pack_dir, fa, tmp_path / "single") == 0
    assert (tmp_path / "dask" / "scores.csv").read_bytes() == (tmp_path / "single" / "scores.csv").read_bytes()
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


@pytest.mark.slow
def test_embedded_local_cluster_from_the_command_line(tiny_pack_dir, tmp_path):
    fa = _fasta(tmp_path / "in.fa", 12)
    assert _score(tiny_pack_dir, fa, tmp_path / "dask", "--scheduler", "local:2") == 0
    assert _score(tiny_pack_dir, fa, tmp_path / "single") == 0
    assert (tmp_path / "dask" / "scores.csv").read_bytes() == (tmp_path / "single" / "scores.csv").read_bytes()

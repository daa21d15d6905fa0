"""Throughput of many records: batch 1 against length-packed batches, and Dask workers.

A fixed-seed sample of Swiss-Prot (lengths 50-1000) runs through the app's own engine
(app.core.batch_jobs) with random-weight ESM-2 packs of the speed bench's shapes, every mode in
one process tree and interleaved: the sample is cut into rounds, and each round runs every mode
(in an order rotated by round) on the same records, so machine noise hits all modes alike.

Modes, all with one warm session per process:
  forward batch 1 / packed   model passes only (run_packed; --token-budget 1 is batch 1)
  score batch 1 / packed     `score --out DIR` end to end (wt-marginal, every single substitution,
                             CSV rows, shards written by the writer thread)
  dask N worker(s)           the packed score on a loopback LocalCluster of N processes, 1 thread each

Then the inputs of a capacity plan: the scheduler's cost per task (trivial tasks), the cost of
shipping a pack to the workers (scatter of its bytes, then load + sha256 verify on a worker),
and the bytes each record writes.

    python -m bench.throughput --archs t6_8M,t30_150M --sample t6_8M=100,t30_150M=16 \\
        --dask t6_8M --md bench/results/throughput_run.md --json bench/results/throughput.json
"""
from __future__ import annotations

import argparse
import gzip
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from .common import REPO, SHARED, cpu_info, cpu_line, emit, load_average, md_table, utc_now

log = logging.getLogger("bench.throughput")
CHUNK = 16  # records per shard (task) in every score mode: 2 workers get several tasks per round
SWISSPROT = SHARED / "data" / "sequences" / "swissprot2014_50-1000aa.fasta.gz"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fasta", nargs="?", type=Path, default=SWISSPROT, help="FASTA (.gz read as gzip)")
    p.add_argument("--n", type=int, default=2000, help="records sampled with --seed (lengths 50-1000)")
    p.add_argument("--sample", default="", help="per-arch fixed-seed subsample of the n, e.g. "
                   "t6_8M=160,t30_150M=24 (default: all n)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--archs", default="t6_8M,t30_150M")
    p.add_argument("--scheme", default="int8")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime threads of the single process")
    p.add_argument("--token-budget", type=int, default=1024)
    p.add_argument("--budgets", default="", help="extra forward modes, one per token budget (a sweep: "
                   "512,2048,4096)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds over the sample")
    p.add_argument("--modes", default="forward,score", help="forward and/or score (both: batch 1 and packed)")
    p.add_argument("--dask", default="", help="archs also timed on 1 and 2 Dask workers (1 thread each)")
    p.add_argument("--dask-workers", default="1,2")
    p.add_argument("--trivial-tasks", type=int, default=1000, help="no-op tasks timed for the scheduler overhead")
    p.add_argument("--work", type=Path, default=REPO / "bench" / ".work" / "throughput")
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    return p.parse_args(argv)


def sample_records(path: Path, n: int, seed: int) -> list:
    """`n` records with 50 <= L <= 1000 drawn with random.Random(seed) (app.core.fasta.parse_fasta)."""
    from app.core.fasta import parse_fasta

    raw = gzip.open(path, "rt", encoding="utf-8").read() if path.suffix == ".gz" else path.read_text()
    records = [r for r in parse_fasta(raw, str(path)) if 50 <= len(r.sequence) <= 1000]
    return random.Random(seed).sample(records, min(n, len(records)))


def subsample(records: list, k: int, seed: int) -> list:
    return records if k <= 0 or k >= len(records) else random.Random(seed + 1).sample(records, k)


def build_pack(arch: str, args) -> Path:
    from .speed import build_packs

    ns = SimpleNamespace(seed=args.seed, work=args.work, calibration=REPO / "assets" / "calibration" /
                         "swissprot_calibration_256.fasta", calibration_size=8, calibration_max_residues=512,
                         pwlq_split="always")
    return Path(build_packs(arch, [args.scheme], ns)[args.scheme]["path"])


def _forward(runtime, records, budget: int) -> None:
    from app.core.batching import plan_batches, run_packed

    seqs = [r.sequence for r in records]
    for b in plan_batches([len(s) for s in seqs], budget):
        run_packed(runtime, [seqs[i] for i in b.indices], ("logits",))


def _score(runtime, pack_dir: Path, records, budget: int, scheduler: str | None = None, client=None) -> int:
    """The `score --out DIR` engine over `records` into a fresh directory; bytes written."""
    from app.batch_command import Options, make_jobs, settings_of
    from app.core.batch_jobs import Planner, ScoreWork, run_local
    from app.core.provenance import Provenance
    from app.core.shards import ShardStore

    out = Path(tempfile.mkdtemp(prefix="edgefold-throughput-"))
    try:
        work = ScoreWork("wt-marginal")
        store = ShardStore(out, settings_of(work, Provenance.of_pack(pack_dir, "wt-marginal")))
        store.prepare(False)
        jobs = make_jobs(records, stems=False)
        if scheduler:
            from app.core.distributed import run_distributed

            run_distributed(scheduler, pack_dir, work, store, jobs, Options(budget, CHUNK, threads=1),
                            lambda e: None, lambda t: None, client=client)
        else:
            run_local(Planner(runtime, work, budget), store, jobs, CHUNK)
        return sum(p.stat().st_size for p in (out / "shards").iterdir())
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _noop(x: int) -> int:
    return x


def measure_arch(arch: str, records: list, args) -> dict:
    from app.core.pack import load_pack
    from app.core.runtime import Esm2Runtime

    pack_dir = build_pack(arch, args)
    runtime = Esm2Runtime(load_pack(pack_dir), threads=args.threads)
    modes: dict = {}
    if "forward" in args.modes:
        modes["forward, batch 1"] = lambda recs: _forward(runtime, recs, 1)
        for budget in [args.token_budget] + [int(b) for b in args.budgets.split(",") if b]:
            modes[f"forward, packed ({budget} tokens)"] = lambda recs, b=budget: _forward(runtime, recs, b)
    if "score" in args.modes:
        modes["score, batch 1"] = lambda recs: _score(runtime, pack_dir, recs, 1)
        modes[f"score, packed ({args.token_budget} tokens)"] = lambda recs: _score(runtime, pack_dir, recs,
                                                                                 args.token_budget)
    clients = []
    if arch in args.dask.split(","):
        from app.core.distributed import start_client
        from app.core.scheduler_spec import SchedulerSpec

        for n in [int(x) for x in args.dask_workers.split(",") if x]:
            client, cluster = start_client(SchedulerSpec(n))
            client.wait_for_workers(n, timeout=120)
            clients.append((client, cluster))
            _score(None, pack_dir, records[:2 * n], args.token_budget, cluster.scheduler_address, client)  # warm
            modes[f"score, packed, dask {n} worker(s) x 1 thread"] = (
                lambda recs, c=client, a=cluster.scheduler_address: _score(None, pack_dir, recs, args.token_budget, a, c))
    try:
        _forward(runtime, records[:2], args.token_budget)  # warm the single process
        names = list(modes)
        rng = random.Random(args.seed + 2)
        shuffled = rng.sample(records, len(records))
        rounds = [shuffled[r::args.rounds] for r in range(args.rounds)]
        seconds = {m: 0.0 for m in names}
        loads = []
        written = 0
        for r, recs in enumerate(rounds):
            for m in names[r % len(names):] + names[:r % len(names)]:
                t0 = time.perf_counter()
                out = modes[m](recs)
                seconds[m] += time.perf_counter() - t0
                written = out if isinstance(out, int) and out else written
                loads.append(load_average())
                log.info("%s round %d: %.1f s (load %.1f)", m, r, seconds[m], loads[-1])
        residues = sum(len(r.sequence) for r in records)
        result = {"arch": arch, "pack": str(pack_dir), "records": len(records), "residues": residues,
                  "seconds": seconds, "load": loads,
                  "residues_per_s": {m: residues / s for m, s in seconds.items()},
                  "sequences_per_s": {m: len(records) / s for m, s in seconds.items()},
                  "score_bytes_per_residue": written / max(1, sum(len(r.sequence) for r in rounds[-1]))}
        if clients:
            result["capacity"] = capacity_inputs(clients[-1][0], pack_dir, args)
        return result
    finally:
        for client, cluster in clients:
            client.close()
            cluster.close()


def capacity_inputs(client, pack_dir: Path, args) -> dict:
    """Scheduler cost per task, pack shipping and verify+load cost, on the cluster of `client`."""
    from app.core.distributed import pack_files, pack_ref

    n = args.trivial_tasks
    t0 = time.perf_counter()
    futures = client.map(_noop, range(n), pure=False)
    client.gather(futures)
    per_task = (time.perf_counter() - t0) / n
    del futures
    files = pack_files(pack_dir)
    size = sum(len(b) for b in files.values())
    workers = len(client.scheduler_info()["workers"])
    t0 = time.perf_counter()
    ref, files_future = pack_ref(client, pack_dir, "bytes")
    client.run(lambda: None)  # the broadcast has landed on every worker
    scatter_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    client.submit(_load_from, ref, files_future, pure=False).result()
    load_s = time.perf_counter() - t0
    return {"workers": workers, "trivial_tasks": n, "scheduler_s_per_task": per_task,
            "pack_bytes": size, "scatter_broadcast_s": scatter_s, "load_verify_s": load_s}


def _load_from(ref, files: dict) -> int:
    """A worker's first use of a shipped pack: materialize, verify every sha256, open the session."""
    from app.core import dask_tasks

    dask_tasks._runtimes.pop(ref.sha256, None)
    dask_tasks.runtime_for(ref, 1, files)
    return 0


def report(results: list[dict], args) -> str:
    lines = [f"# Throughput: batch 1 vs packed batches vs Dask workers ({utc_now()})", "",
             f"CPU: {cpu_line(cpu_info())}; single process {args.threads} onnxruntime threads; "
             f"scheme {args.scheme}, random weights; records from {args.fasta.name} (seed {args.seed}).", ""]
    for res in results:
        modes = list(res["residues_per_s"])
        base = {"forward": res["residues_per_s"].get("forward, batch 1"),
                "score": res["residues_per_s"].get("score, batch 1")}
        rows = []
        for m in modes:
            b = base["forward" if m.startswith("forward") else "score"]
            rows.append([m, res["sequences_per_s"][m], res["residues_per_s"][m],
                         res["residues_per_s"][m] / b if b else None, res["seconds"][m]])
        lines += [f"## {res['arch']}: {res['records']} records, {res['residues']:,} residues, "
                  f"load average {min(res['load']):.1f}-{max(res['load']):.1f}", "",
                  md_table(["mode", "sequences/s", "residues/s", "x batch 1", "seconds"], rows, 2), ""]
        cap = res.get("capacity")
        if cap:
            lines += [f"Capacity inputs ({cap['workers']} workers): scheduler {cap['scheduler_s_per_task'] * 1e3:.2f} ms "
                      f"per trivial task ({cap['trivial_tasks']} tasks); pack {cap['pack_bytes'] / 1e6:.1f} MB "
                      f"broadcast in {cap['scatter_broadcast_s']:.2f} s; first load + sha256 verify on a worker "
                      f"{cap['load_verify_s']:.2f} s; score shards {res['score_bytes_per_residue']:.0f} bytes per "
                      f"residue.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    records = sample_records(args.fasta, args.n, args.seed)
    sizes = dict(kv.split("=") for kv in args.sample.split(",") if kv)
    results = []
    for arch in [a for a in args.archs.split(",") if a]:
        recs = subsample(records, int(sizes.get(arch, 0)), args.seed)
        log.info("%s: %d records, %d residues", arch, len(recs), sum(len(r.sequence) for r in recs))
        results.append(measure_arch(arch, recs, args))
    emit(report(results, args), {"when": utc_now(), "args": {k: str(v) for k, v in vars(args).items()},
                                 "cpu": cpu_info(), "results": results}, args.json, args.md)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

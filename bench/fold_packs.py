"""The fold bench's models (real ESMFold widths, fewer blocks) and their cached folding packs.

Dimensions of `esmfold_v1` (facebook/esmfold_v1), checked against the libraries installed here:
- language model = ESM-2 3B (fair-esm `esm2_t36_3B_UR50D`, which fair-esm's `esm/esmfold/v1/esmfold.py`
  loads): 36 layers, hidden 2560, 40 heads, FFN 10240 (4 x hidden);
- trunk: transformers `TrunkConfig()` defaults = fair-esm `FoldingTrunkConfig`: 48 blocks, c_s 1024,
  c_z 128, head widths 32/32, 32 position bins, max_recycles 4. chunk_size None as in fair-esm
  (transformers' default is 128; chunking only trades memory for time, and the ONNX trunk is unchunked);
- structure module: transformers `StructureModuleConfig()` = fair-esm `StructureModuleConfig`: c_s 384,
  c_z 128, ipa_dim 16, resnet 128, 12 IPA heads, 4 qk / 8 v points, 8 blocks (one block's weights
  applied 8 times), dropout 0 (inference); `EsmFoldConfig().lddt_head_hid_dim` = 128;
- fp16_esm False: the torch reference is fp32 throughout.

`python -m bench.fold_packs --preset esmfold_v1 --lm-layers 2 --trunk-blocks 2 --work DIR` exports
(or reuses) one folding pack per scheme in its own process and prints one JSON line per pack.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ESMFOLD_V1 = {
    "esm": {"hidden_size": 2560, "num_hidden_layers": 36, "num_attention_heads": 40, "intermediate_size": 10240},
    "trunk": {"num_blocks": 48, "sequence_state_dim": 1024, "pairwise_state_dim": 128, "sequence_head_width": 32,
              "pairwise_head_width": 32, "position_bins": 32, "max_recycles": 4, "chunk_size": None},
    "structure": {"sequence_dim": 384, "pairwise_dim": 128, "ipa_dim": 16, "resnet_dim": 128, "num_heads_ipa": 12,
                  "num_qk_points": 4, "num_v_points": 8, "num_blocks": 8, "dropout_rate": 0.0},
    "lddt_head_hid_dim": 128,
}
# Test preset: exporter.esmfold.model's tiny widths (2 structure blocks: onnxruntime takes ~4 s per unrolled
# IPA block to load), "full" depth 4 LM layers and 4 trunk blocks.
TINY = {
    "esm": {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 64},
    "trunk": {"num_blocks": 4, "sequence_state_dim": 32, "pairwise_state_dim": 16, "sequence_head_width": 8,
              "pairwise_head_width": 8, "position_bins": 8, "max_recycles": 4, "chunk_size": None},
    "structure": {"sequence_dim": 24, "pairwise_dim": 8, "ipa_dim": 8, "resnet_dim": 16, "num_heads_ipa": 2,
                  "num_qk_points": 2, "num_v_points": 2, "num_blocks": 2, "dropout_rate": 0.0},
    "lddt_head_hid_dim": 16,
}
PRESETS = {"esmfold_v1": ESMFOLD_V1, "tiny": TINY}
# parameter groups: the two that repeat per layer/block, and the rest of each part
GROUPS = ("lm_layers", "lm_other", "trunk_blocks", "trunk_other", "structure", "heads", "unused")


@dataclass(frozen=True)
class FoldBenchModel:
    """A preset's widths with `lm_layers` ESM-2 layers and `trunk_blocks` folding blocks."""
    preset: str = "esmfold_v1"
    lm_layers: int = 2
    trunk_blocks: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        if not 1 <= self.lm_layers <= self.full_lm_layers or not 1 <= self.trunk_blocks <= self.full_trunk_blocks:
            raise ValueError(f"lm_layers {self.lm_layers} / trunk_blocks {self.trunk_blocks} must be between 1 "
                             f"and the full depth {self.full_lm_layers} / {self.full_trunk_blocks}")

    @property
    def full_lm_layers(self) -> int:
        return PRESETS[self.preset]["esm"]["num_hidden_layers"]

    @property
    def full_trunk_blocks(self) -> int:
        return PRESETS[self.preset]["trunk"]["num_blocks"]

    @property
    def max_recycles(self) -> int:
        return PRESETS[self.preset]["trunk"]["max_recycles"]

    @property
    def tag(self) -> str:
        return f"{self.preset}-lm{self.lm_layers}-tb{self.trunk_blocks}-s{self.seed}"

    def config(self):
        """The transformers `EsmConfig` of the reduced model (fp16_esm False)."""
        from exporter.esmfold.model import esmfold_config

        p = PRESETS[self.preset]
        cfg = esmfold_config(esm={**p["esm"], "num_hidden_layers": self.lm_layers},
                             trunk={**p["trunk"], "num_blocks": self.trunk_blocks}, structure=p["structure"],
                             lddt_head_hid_dim=p["lddt_head_hid_dim"])
        assert cfg.esmfold_config.fp16_esm is False
        return cfg

    def build(self):
        """A random-init `EsmForProteinFolding` (exporter.esmfold.model.tiny_esmfold's init), fp32, eval."""
        from exporter.esmfold.model import tiny_esmfold

        return tiny_esmfold(self.seed, self.config())


def param_group(name: str) -> str:
    """Which GROUPS entry a parameter of EsmForProteinFolding belongs to."""
    if name.startswith("esm.encoder.layer."):
        return "lm_layers"
    if name.startswith(("esm.contact_head", "lm_head")):
        return "unused"  # not on ESMFold's inference path (neither part of the ONNX packs)
    if name.startswith(("esm.", "esm_s_", "embedding.")):
        return "lm_other"
    if name.startswith("trunk.blocks."):
        return "trunk_blocks"
    if name.startswith(("trunk.structure_module.", "trunk.trunk2sm_")):
        return "structure"
    if name.startswith("trunk."):
        return "trunk_other"
    return "heads"


def param_counts(model) -> dict[str, int]:
    """{group: number of parameters} (GROUPS)."""
    out = dict.fromkeys(GROUPS, 0)
    for name, p in model.named_parameters():
        out[param_group(name)] += p.numel()
    return out


def pack_info(path: Path, cached: bool) -> dict:
    """Scheme, path, bytes of each part file, and the parameter counts stored at export."""
    manifest = json.loads((path / "manifest.json").read_text())
    parts = manifest["onnx"]["parts"]
    part_bytes = {p: sum(f.stat().st_size for f in path.glob(f"{file}*") if f.is_file()) for p, file in parts.items()}
    return {"scheme": manifest["scheme"], "path": str(path), "part_bytes": part_bytes,
            "params": manifest.get("bench_params"), "cached": cached}


def build(model: FoldBenchModel, schemes: list[str], work: Path, calibration: list[str], size: int,
          max_residues: int, split: str | None, chunk: int | None = None,
          placement: tuple[str, ...] | None = None) -> list[dict]:
    """Export (or reuse) work/<tag>[-c<chunk>][-<placement>]/<scheme> for every scheme."""
    from .packs import cached_pack, pack_key

    model_id = json.dumps({**asdict(model), "widths": PRESETS[model.preset], "split": split, "chunk": chunk,
                           "placement": placement}, sort_keys=True)
    key = pack_key(model_id, calibration, size, False, max_residues)
    out = work / (model.tag + (f"-c{chunk}" if chunk else "") + ("-" + "+".join(placement) if placement else ""))
    todo = [s for s in schemes if not cached_pack(out / s, key)]
    if todo:
        from exporter.esmfold.export import FoldExporter, FoldExportOptions
        from exporter.scheme_options import scheme_config

        torch_model = model.build()
        options = FoldExportOptions(calibration_size=size, max_residues=max_residues, calibration_source="bench",
                                    chunk_size=chunk,
                                    extra_manifest={"bench_key": key, "bench_params": param_counts(torch_model)})
        exporter = FoldExporter(torch_model, model.tag, calibration, options)
        for scheme in todo:
            log.info("exporting %s/%s", model.tag, scheme)
            config = scheme_config(scheme, split=split, placement=placement, family="esmfold")
            exporter.export(config, out / scheme)
    return [pack_info(out / s, s not in todo) for s in schemes]


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """--preset, --lm-layers, --trunk-blocks, --seed: the FoldBenchModel of a fold bench."""
    p.add_argument("--preset", choices=tuple(PRESETS), default="esmfold_v1")
    p.add_argument("--lm-layers", type=int, default=2)
    p.add_argument("--trunk-blocks", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)


def main(argv: list[str] | None = None) -> int:
    from .sequences import calibration_sequences

    p = argparse.ArgumentParser(prog="python -m bench.fold_packs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--schemes", default="fp32,int8,pwlq8")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--calibration", type=Path, default=None)
    p.add_argument("--calibration-size", type=int, default=4)
    p.add_argument("--max-residues", type=int, default=128)
    p.add_argument("--pwlq-split", choices=("default", "never", "auto", "always"), default="always")
    p.add_argument("--chunk-size", type=int, default=0, help="rows per triangle-attention chunk (0: unchunked)")
    p.add_argument("--placement", default="", help="exporter --placement, e.g. 'linear'")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    model = FoldBenchModel(args.preset, args.lm_layers, args.trunk_blocks, args.seed)
    calibration = calibration_sequences(args.calibration, args.calibration_size, args.seed)
    split = None if args.pwlq_split == "default" else args.pwlq_split
    for info in build(model, [s for s in args.schemes.split(",") if s], args.work, calibration,
                      args.calibration_size, args.max_residues, split, args.chunk_size or None,
                      tuple(t for t in args.placement.split(",") if t) or None):
        print(json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

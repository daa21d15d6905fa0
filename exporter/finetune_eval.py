"""Spearman of a (fine-tuned) ESM-2 on a ProteinGym assay, in torch: zero-shot or the supervised head.

    python -m exporter.finetune_eval --model MODEL --assay ASSAY.csv.gz [--method masked-marginal]
    python -m exporter.finetune_eval --model ft_supervised.pt --assay ASSAY.csv.gz --supervised
    python -m exporter.finetune_eval --model BASE --assay ASSAY.csv.gz --test-split ft_supervised.pt

Zero-shot scores follow app.core.scoring (log p(mt) - log p(wt) over the full 33-token vocabulary,
multi-mutants additive) through packbuild.metrics.wt_marginal and app.core.scoring.score_mutants, so
a number here matches `python -m exporter MODEL --benchmark` on the float pack. `--supervised`
reports the checkpoint's regression head on the held-out positions recorded in the checkpoint.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from app.core.scoring import ScoreMatrix, score_mutants

from packbuild.metrics import STANDARD, log_softmax, spearman, wt_marginal

from .benchmark import METHODS
from .proteingym import Assay, read_assay
from .variant_head import encode

log = logging.getLogger(__name__)
MAX_RESIDUES = 1022


class EvalError(ValueError):
    """An evaluation that cannot run: names the assay or the checkpoint."""


@torch.no_grad()
def score_matrix_torch(model, alphabet, sequence: str, method: str = "wt-marginal",
                       batch_size: int = 16) -> ScoreMatrix:
    """(L, 20) log-ratios of every substitution, one window (L <= 1022)."""
    if method not in METHODS:
        raise EvalError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    if len(sequence) > MAX_RESIDUES:
        raise EvalError(f"sequence of {len(sequence)} residues: longer than one {MAX_RESIDUES}-residue window")
    model.eval()
    ids = {t: i for i, t in enumerate(alphabet.all_toks)}
    base = encode(alphabet, [sequence])  # (1, L + 2)
    if method == "wt-marginal":
        scores = wt_marginal(model(base)["logits"][0].float().numpy(), sequence, ids)
    else:
        aa, wt = np.array([ids[a] for a in STANDARD]), np.array([ids[a] for a in sequence])
        scores = np.zeros((len(sequence), len(STANDARD)))
        for b0 in range(0, len(sequence), batch_size):
            pos = np.arange(b0, min(b0 + batch_size, len(sequence)))  # residues masked, one per row
            tokens = base.repeat(len(pos), 1)
            tokens[np.arange(len(pos)), pos + 1] = alphabet.mask_idx
            lp = log_softmax(model(tokens)["logits"][np.arange(len(pos)), pos + 1].float().numpy())  # (b, V)
            scores[pos] = lp[:, aa] - lp[np.arange(len(pos)), wt[pos]][:, None]
    return ScoreMatrix(sequence, scores.astype(np.float32), method)


def zero_shot_spearman(model, alphabet, assay: Assay, method: str = "wt-marginal",
                       subset: np.ndarray | None = None) -> float:
    """Spearman of zero-shot scores vs DMS_score over the assay (or the variant indices `subset`)."""
    matrix = score_matrix_torch(model, alphabet, assay.wild_type, method)
    mutants, scores = list(assay.mutants), assay.scores
    if subset is not None:
        mutants, scores = [mutants[i] for i in subset], scores[subset]
    return spearman(score_mutants(matrix, mutants), scores)


def load_model(spec: str):
    """(fair-esm ESM2 in eval mode, alphabet, raw checkpoint dict or {}) from any MODEL the exporter takes."""
    from .train import init_model

    model, alphabet, _ = init_model(spec)
    raw = {}
    if Path(spec).is_file():
        raw = torch.load(spec, map_location="cpu", weights_only=False)
    return model.eval(), alphabet, raw


def held_out_rows(checkpoint: str, assay: Assay) -> np.ndarray:
    """Assay rows of the held-out positions recorded in a supervised checkpoint."""
    split = torch.load(checkpoint, map_location="cpu", weights_only=False).get("split")
    if not split or split.get("assay") != assay.name:
        raise EvalError(f"{checkpoint}: no position split recorded for {assay.name!r}")
    return np.array(split["test_indices"])


def supervised_spearman(spec: str, assay: Assay) -> dict:
    """Test Spearman of a supervised checkpoint's head on its recorded held-out positions."""
    from .variant_head import RegressionHead, predict

    model, alphabet, raw = load_model(spec)
    if "regression_head" not in raw:
        raise EvalError(f"{spec}: no 'regression_head' key; not written by `exporter.finetune supervised`")
    head = RegressionHead.from_record(raw["regression_head"])
    split = raw["split"]
    test = held_out_rows(spec, assay)
    pred = predict(model, head, alphabet, assay, test)
    return {"assay": assay.name, "n_test": len(test), "test_positions": len(split["test_positions"]),
            "test_spearman": round(spearman(pred, assay.scores[test]), 4)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m exporter.finetune_eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="any MODEL `python -m exporter` takes")
    p.add_argument("--assay", required=True, help="ProteinGym CSV(.gz)")
    p.add_argument("--method", choices=METHODS, default="wt-marginal")
    p.add_argument("--supervised", action="store_true", help="score the regression head on held-out positions")
    p.add_argument("--test-split", metavar="CKPT", help="zero-shot only on the held-out variants of this "
                   "supervised checkpoint (the base model's number to compare with its test Spearman)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    try:
        assay = read_assay(Path(args.assay))
        if args.supervised:
            result = supervised_spearman(args.model, assay)
        else:
            model, alphabet, _ = load_model(args.model)
            subset = held_out_rows(args.test_split, assay) if args.test_split else None
            rho = zero_shot_spearman(model, alphabet, assay, args.method, subset)
            result = {"assay": assay.name, "method": args.method,
                      "n_variants": len(assay.mutants) if subset is None else len(subset),
                      "variants": f"held-out positions of {args.test_split}" if subset is not None else "all",
                      "spearman": round(rho, 4)}
    except (EvalError, ValueError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    result.update(model=args.model, seconds=round(time.time() - t0, 1))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fine-tune ESM-2 on one protein: evo-tuning on its homologs, or supervised on measured variants.

    python -m exporter.finetune evo --init MODEL --data homologs.fasta --out ft_evo.pt --minutes 8
    python -m exporter.finetune supervised --init MODEL --assay ASSAY.csv.gz --out ft_sup.pt --minutes 10

`evo` continues masked-LM training (exporter.train's loss, batches and time-based schedule) on the
homologs (exporter.homologs writes them), holding out a few for validation perplexity.
`supervised` fine-tunes the whole encoder with a regression head on a ProteinGym-format assay
(`mutant,mutated_sequence,DMS_score`). Prediction for variant x of wild type w (standardised score):

    y(x) = a * mm(x) + v . mean_i h_i(x) + b,    mm(x) = sum_{i mutated} log p(x_i | x) - log p(w_i | x)

mm is the mutant-marginal log-ratio (Meier et al. 2021) read from the same forward pass whose
final-layer embeddings h are mean-pooled, so the head starts at a zero-shot score (v = 0) and
learns a correction. Variants are split by mutated position (a seeded 80/20 split of positions; a
multi-mutant spanning both sides is dropped), so the test Spearman is on positions never trained on.

Both modes write a fair-esm-style checkpoint that `python -m exporter` loads as an ESM-2 (the head
and the split are extra keys) and a .json log beside it (loss history, timing, Spearman).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from packbuild.metrics import spearman

from .finetune_eval import zero_shot_spearman
from .proteingym import Assay, read_assay
from .train import init_model, learning_rate, masked_lm_loss, save_checkpoint, validation_perplexity
from .train_data import MlmBatches, MlmConfig, read_fasta_sequences
from .variant_head import RegressionHead, predict, variant_features

log = logging.getLogger("exporter.finetune")


@dataclass(frozen=True)
class PositionSplit:
    assay: str
    seed: int
    test_fraction: float
    train_positions: tuple[int, ...]   # 1-based
    test_positions: tuple[int, ...]
    train_indices: tuple[int, ...]     # rows of the assay
    test_indices: tuple[int, ...]
    n_dropped: int                     # multi-mutants with positions on both sides


def mutated_positions(code: str) -> set[int]:
    return {int(sub[1:-1]) for sub in code.split(":")}


def split_by_position(assay: Assay, test_fraction: float = 0.2, seed: int = 0) -> PositionSplit:
    """Seeded split of the assay's mutated positions; a variant goes where all its positions are."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction {test_fraction}: expected a fraction in (0, 1)")
    sites = sorted(set().union(*(mutated_positions(m) for m in assay.mutants)))
    order = np.random.default_rng(seed).permutation(len(sites))
    n_test = max(1, round(test_fraction * len(sites)))
    test = {sites[i] for i in order[:n_test]}
    train_idx, test_idx = [], []
    for i, code in enumerate(assay.mutants):
        pos = mutated_positions(code)
        (test_idx if pos <= test else train_idx if not pos & test else []).append(i)
    return PositionSplit(assay.name, seed, test_fraction, tuple(s for s in sites if s not in test),
                         tuple(sorted(test)), tuple(train_idx), tuple(test_idx),
                         len(assay.mutants) - len(train_idx) - len(test_idx))


@torch.no_grad()
def init_head(head: RegressionHead, model, alphabet, assay: Assay, rows: np.ndarray, target: np.ndarray,
              rng: np.random.Generator, n: int = 64) -> None:
    """Least-squares (a, b) of target ~ a * mm + b over `n` training variants, so training starts
    from the best zero-shot line (MSE 1 - r^2) instead of an arbitrary scale."""
    pick = rng.choice(len(rows), min(n, len(rows)), replace=False)
    mm = np.concatenate([variant_features(model.eval(), alphabet, assay, list(rows[pick[b:b + 32]]))[1].cpu().numpy()
                         for b in range(0, len(pick), 32)])
    a, b = np.polyfit(mm, target[pick], 1) if mm.std() > 0 else (0.0, 0.0)
    head.mm_weight.fill_(float(a))
    head.linear.bias.fill_(float(b))
    log.info("head init: a=%.4f b=%.4f from %d training variants", a, b, len(pick))


class TrainClock:
    """Seconds spent training, evaluations excluded: what `--minutes` budgets and the schedule follows."""

    def __init__(self):
        self.start, self.paused = time.time(), 0.0

    def elapsed(self) -> float:
        return time.time() - self.start - self.paused

    @contextmanager
    def pause(self):
        t = time.time()
        yield
        self.paused += time.time() - t


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _finish(out: Path, model, args, history: list[dict], provenance: dict, summary: dict,
            extra: dict | None = None) -> None:
    """Checkpoint (exporter.train's format, plus `extra` keys) and the .json log beside it."""
    save_checkpoint(out, model, args, history, provenance)
    if extra:
        data = torch.load(str(out), map_location="cpu", weights_only=False)
        data.update(extra)
        torch.save(data, str(out.with_suffix(".tmp")))
        out.with_suffix(".tmp").replace(out)
    out.with_suffix(".json").write_text(json.dumps({"summary": summary, "history": history}, indent=2))


def train_loop(opt, loss_fn, evaluate, args, initial: dict | None = None) -> tuple[list[dict], int, float]:
    """(history, steps, training minutes) of the time-budgeted loop both modes share: warm-up then
    cosine over `args.minutes` of training time (exporter.train.learning_rate, each param group to its
    own "peak"), gradients clipped to norm 1, `evaluate(step, loss)` at the start (unless `initial`
    is given), every `args.eval_every_minutes` of training (0: never) and at the end."""
    history, step, running = [initial if initial is not None else evaluate(0, None)], 0, 0.0
    budget, clock, last_eval = args.minutes * 60.0, TrainClock(), 0.0
    params = [p for group in opt.param_groups for p in group["params"]]
    while clock.elapsed() < budget and (args.max_steps is None or step < args.max_steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, clock.elapsed(), budget, group["peak"], args.warmup)
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        running = 0.95 * running + 0.05 * loss.item() if step > 1 else loss.item()
        if step % args.log_every == 0:
            log.info("%s step %d  loss %.4f  lr %.2e  %.1f min", args.mode, step, running,
                     opt.param_groups[0]["lr"], clock.elapsed() / 60)
        if args.eval_every_minutes and clock.elapsed() - last_eval > args.eval_every_minutes * 60:
            with clock.pause():
                history.append(evaluate(step, running))
            last_eval = clock.elapsed()
    with clock.pause():
        history.append(evaluate(step, running))
    return history, step, clock.elapsed() / 60


def evo(args) -> dict:
    """Continued masked-LM training on the homologs of `args.data`."""
    out, start = Path(args.out), time.time()
    model, alphabet, provenance = init_model(args.init)
    model = model.to(args.device).train()
    seqs = [s for _, s in read_fasta_sequences(Path(args.data))]
    if len(seqs) < 2:
        raise ValueError(f"{args.data}: {len(seqs)} sequences; evo-tuning needs at least 2")
    order = np.random.default_rng(args.seed).permutation(len(seqs))
    n_val = min(args.val_sequences, max(1, len(seqs) // 10))
    val, train = [seqs[i] for i in order[:n_val]], [seqs[i] for i in order[n_val:]]
    mlm = MlmConfig(crop=args.crop, batch_size=args.batch_size)
    batches = MlmBatches(train, alphabet, mlm, seed=args.seed)
    val_batches = [MlmBatches(val, alphabet, mlm, seed=1).batch() for _ in range(args.val_batches)]
    assay = read_assay(Path(args.assay)) if args.assay else None

    def evaluate(step: int, loss: float | None) -> dict:
        row = {"step": step, "wall_minutes": round((time.time() - start) / 60, 2),
               "val_ppl": round(validation_perplexity(model, val_batches), 4)}
        if loss is not None:
            row["train_loss"] = round(loss, 4)
        if assay is not None:
            row["wt_marginal_spearman"] = round(zero_shot_spearman(model, alphabet, assay), 4)
            model.train()
        log.info("evo %s", row)
        return row

    opt = torch.optim.AdamW([{"params": list(model.parameters()), "peak": args.lr}], lr=args.lr,
                            weight_decay=0.01, betas=(0.9, 0.98))
    history, step, minutes = train_loop(opt, lambda: masked_lm_loss(model.train(), *batches.batch()), evaluate, args)
    provenance["finetune"] = {"mode": "evo", "data": str(args.data), "data_sha256": _sha256(args.data),
                              "n_train": len(train), "n_val": len(val), "steps": step, "minutes": round(minutes, 2)}
    summary = {**provenance["finetune"], "init": args.init, "initial": history[0], "final": history[-1],
               "seconds_total": round(time.time() - start, 1)}
    _finish(out, model, args, history, provenance, summary)
    log.info("done: %s", summary)
    return summary


def supervised(args) -> dict:
    """Full fine-tune with a regression head; train/test split by mutated position."""
    out, start = Path(args.out), time.time()
    assay = read_assay(Path(args.assay))
    split = split_by_position(assay, args.test_fraction, args.seed)
    train_rows, test_rows = np.array(split.train_indices), np.array(split.test_indices)
    model, alphabet, provenance = init_model(args.init)
    model = model.to(args.device)
    y = assay.scores[train_rows]
    head = RegressionHead(model.embed_dim, float(y.mean()), float(y.std()) or 1.0).to(args.device)
    target = torch.tensor((y - head.target_mean) / head.target_std, dtype=torch.float32)
    init_head(head, model, alphabet, assay, train_rows, target.numpy(), np.random.default_rng(args.seed))
    rng = np.random.default_rng(args.seed + 1)

    def evaluate(step: int, loss: float | None) -> dict:
        rho = spearman(predict(model, head, alphabet, assay, test_rows), assay.scores[test_rows])
        row = {"step": step, "wall_minutes": round((time.time() - start) / 60, 2), "test_spearman": round(rho, 4),
               "train_mse": round(loss, 4)}
        log.info("supervised %s", row)
        return row

    base = round(zero_shot_spearman(model, alphabet, assay, subset=test_rows), 4)  # one pass over the wt
    log.info("split: %d train / %d test variants, %d / %d positions; base wt-marginal test Spearman %.4f",
             len(train_rows), len(test_rows), len(split.train_positions), len(split.test_positions), base)

    groups = [{"params": list(model.parameters()), "peak": args.lr, "weight_decay": 0.01},
              {"params": list(head.parameters()), "peak": args.head_lr, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=args.lr)

    def loss_fn() -> torch.Tensor:
        pick = rng.integers(0, len(train_rows), args.batch_size)
        pred = head(*variant_features(model.train(), alphabet, assay, list(train_rows[pick])))
        return torch.nn.functional.mse_loss(pred, target[pick].to(pred.device))

    initial = {"step": 0, "wall_minutes": 0.0, "base_wt_marginal_test_spearman": base}
    history, step, minutes = train_loop(opt, loss_fn, evaluate, args, initial)
    record = {**asdict(split), "n_train": len(train_rows), "n_test": len(test_rows)}
    provenance["finetune"] = {"mode": "supervised", "assay": assay.name, "assay_sha256": _sha256(args.assay),
                              "steps": step, "minutes": round(minutes, 2),
                              "test_spearman": history[-1]["test_spearman"], "features": head.FEATURES,
                              "base_wt_marginal_test_spearman": base}
    summary = {**provenance["finetune"], "init": args.init, "n_train": len(train_rows), "n_test": len(test_rows),
               "n_train_positions": len(split.train_positions), "n_test_positions": len(split.test_positions),
               "n_dropped": split.n_dropped, "initial": history[0], "final": history[-1],
               "seconds_total": round(time.time() - start, 1)}
    _finish(out, model, args, history, provenance, summary,
            {"regression_head": head.to_record(), "split": record, "test_spearman": history[-1]["test_spearman"]})
    log.info("done: %s", summary)
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m exporter.finetune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("evo", help="continued masked-LM training on a protein's homologs")
    e.add_argument("--data", required=True, help="homolog FASTA (exporter.homologs)")
    e.add_argument("--assay", help="optional ProteinGym assay: log wt-marginal Spearman at each evaluation")
    e.add_argument("--crop", type=int, default=256)
    e.add_argument("--val-sequences", type=int, default=64)
    e.add_argument("--val-batches", type=int, default=4)
    e.add_argument("--eval-every-minutes", type=float, default=2.0)
    s = sub.add_parser("supervised", help="regression head + full fine-tune on measured variants")
    s.add_argument("--assay", required=True, help="ProteinGym CSV(.gz): mutant,mutated_sequence,DMS_score")
    s.add_argument("--test-fraction", type=float, default=0.2, help="fraction of mutated positions held out")
    s.add_argument("--head-lr", type=float, default=2e-3)
    s.add_argument("--eval-every-minutes", type=float, default=0.0,
                   help="also score the held-out positions every N minutes (0: only at the end)")
    for q, lr, batch, warmup in ((e, 3e-4, 8, 20), (s, 5e-5, 16, 5)):
        q.add_argument("--init", required=True, help="any MODEL `python -m exporter` takes")
        q.add_argument("--out", required=True, help="checkpoint (.pt); a .json log is written beside it")
        q.add_argument("--minutes", type=float, default=10.0,
                       help="training budget in wall-clock minutes, evaluations excluded (cosine schedule over it)")
        q.add_argument("--max-steps", type=int, default=None)
        q.add_argument("--lr", type=float, default=lr, help="peak learning rate of the encoder")
        q.add_argument("--batch-size", type=int, default=batch)
        q.add_argument("--warmup", type=int, default=warmup)
        q.add_argument("--log-every", type=int, default=10)
        q.add_argument("--threads", type=int, default=1)
        q.add_argument("--device", default="cpu")
        q.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    try:
        (evo if args.mode == "evo" else supervised)(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train a small ESM-2-architecture masked LM on SwissProt: the app's embedded default model.

    python -m exporter.train --data swissprot.fasta.gz --exclude-assays proteingym/assays \
        --out runs/default/checkpoint.pt --minutes 75

The schedule is time-based (cosine over the wall-clock budget), so the same command fits a
laptop, a shared 2-core machine or a GPU; `--schedule steps` makes it cosine over --max-steps
instead (twin runs that must see the same steps). `--ternary` trains with BitNet b1.58 ternary
encoder Linears (quantization-aware, exporter/ternary_qat.py, "2Bits of Protein"); the
checkpoint then holds the latent float weights under ESM-2's usual key names. The checkpoint is a fair-esm-style `.pt`
(`{"cfg": {"model": ...}, "model": state_dict}`) that `python -m exporter` loads like any local
ESM-2 file.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .ternary_qat import ternarize_encoder
from .train_data import MlmBatches, MlmConfig, drop_near_matches, proteingym_wild_types, read_fasta_sequences

log = logging.getLogger("exporter.train")


def build_model(layers: int, dim: int, heads: int):
    import esm
    from esm.model.esm2 import ESM2

    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = ESM2(num_layers=layers, embed_dim=dim, attention_heads=heads, alphabet=alphabet,
                 token_dropout=True)
    init_weights(model, alphabet.padding_idx)
    return model, alphabet


def init_weights(model, padding_idx: int, std: float = 0.02) -> None:
    """BERT-style init: N(0, 0.02) weights, zero biases. fair-esm's defaults (N(0, 1) token
    embeddings tied to the LM head) start at a cross-entropy near 29 instead of ln(33)."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            torch.nn.init.normal_(module.weight, std=std)
            if getattr(module, "bias", None) is not None:
                torch.nn.init.zeros_(module.bias)
    with torch.no_grad():
        model.embed_tokens.weight[padding_idx].zero_()


def masked_lm_loss(model, tokens: np.ndarray, targets: np.ndarray) -> torch.Tensor:
    device = next(model.parameters()).device
    logits = model(torch.from_numpy(tokens).to(device))["logits"]  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                           torch.from_numpy(targets).to(device).reshape(-1), ignore_index=-100)


@torch.no_grad()
def validation_perplexity(model, batches: list[tuple[np.ndarray, np.ndarray]]) -> float:
    model.eval()
    total, count = 0.0, 0
    for tokens, targets in batches:
        n = int((targets != -100).sum())
        total += float(masked_lm_loss(model, tokens, targets)) * n
        count += n
    model.train()
    return math.exp(total / max(count, 1))


def learning_rate(step: int, elapsed: float, budget: float, peak: float, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine over `budget` to 10% of peak; `elapsed` and
    `budget` are seconds (time schedule) or steps (step schedule)."""
    frac = min(1.0, elapsed / budget)
    return peak * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def save_checkpoint(path: Path, model, args, history: list[dict], provenance: dict | None = None,
                    steps: list[dict] | None = None) -> None:
    cfg = {"encoder_layers": model.num_layers, "encoder_embed_dim": model.embed_dim,
           "encoder_attention_heads": model.attention_heads, "token_dropout": bool(model.token_dropout)}
    tmp = path.with_suffix(".tmp")
    data = {"format": "edgefold-esm2-checkpoint", "cfg": {"model": cfg},
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "training": {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                         "history": history, "steps": steps or [],
                         "ternary": bool(getattr(args, "ternary", False)),
                         "ternary_per_channel": bool(getattr(args, "ternary_per_channel", False))}}
    if provenance:
        data["provenance"] = provenance
    torch.save(data, tmp)
    tmp.replace(path)


def init_model(spec: str):
    """(model, alphabet, provenance) from any ESM-2 source `python -m exporter` loads (`--init`)."""
    from .loaders import load

    loaded = load(spec)
    cfg = loaded.weights.config
    model, alphabet = build_model(cfg.num_layers, cfg.embed_dim, cfg.attention_heads)
    state = {k: torch.from_numpy(v) for k, v in loaded.weights.arrays.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("contact_head") and not k.endswith("inv_freq")]
    if missing or unexpected:
        raise ValueError(f"--init {spec}: weights do not fit ESM-2 (missing {missing[:4]}, unexpected {unexpected[:4]})")
    provenance = {}
    path = Path(spec)
    if path.is_file():
        raw = torch.load(str(path), map_location="cpu", weights_only=False)
        provenance = dict(raw.get("provenance", {})) if isinstance(raw, dict) else {}
        provenance["init"] = path.name
    else:
        provenance["init"] = spec
    return model, alphabet, provenance


LM_HEAD_PARAMS = ("lm_head.dense.", "lm_head.layer_norm.", "lm_head.bias")


def set_trainable(model, which: str) -> list:
    """Parameters to optimise: `all`, or only the LM head (`lm-head`; its decoder stays tied to
    the frozen token embeddings)."""
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(which == "all" or name.startswith(LM_HEAD_PARAMS))
        if p.requires_grad:
            params.append(p)
    return params


def load_sequences(args) -> tuple[list[str], list[str], dict]:
    records = read_fasta_sequences(Path(args.data))
    info = {"source": str(args.data), "n_input": len(records)}
    if args.exclude_assays:
        wts = proteingym_wild_types(Path(args.exclude_assays))
        records, dropped = drop_near_matches(records, wts)
        info.update(n_assays_excluded=len(wts), n_dropped_near_wild_type=dropped)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(records))
    seqs = [records[i][1] for i in order]
    val, train = seqs[:args.val_sequences], seqs[args.val_sequences:]
    info.update(n_train=len(train), n_val=len(val))
    return train, val, info


def resume_model(args, provenance: dict):
    """(model, alphabet, history, steps, provenance) from `--resume`; a ternary checkpoint needs --ternary."""
    previous = torch.load(args.resume, map_location="cpu", weights_only=False)
    cfg = previous["cfg"]["model"]
    model, alphabet = build_model(cfg["encoder_layers"], cfg["encoder_embed_dim"], cfg["encoder_attention_heads"])
    model.load_state_dict(previous["model"])
    record = previous.get("training", {})
    if record.get("ternary") and not args.ternary:
        raise ValueError(f"--resume {args.resume}: a ternary QAT checkpoint (latent weights); pass --ternary "
                         "to continue it, or --init to start a float run from it")
    if args.ternary and record.get("ternary") and record.get("ternary_per_channel") != args.ternary_per_channel:
        raise ValueError(f"--resume {args.resume}: trained with ternary_per_channel="
                         f"{record.get('ternary_per_channel')}, this run has {args.ternary_per_channel}")
    history, steps = list(record.get("history", [])), list(record.get("steps", []))
    log.info("resumed from %s after %d logged checkpoints", args.resume, len(history))
    return model, alphabet, history, steps, dict(previous.get("provenance", provenance))


def optimizer_step(model, opt, trainable, batches, accumulate: int) -> float:
    """One AdamW step on `accumulate` micro-batches (gradients summed, each loss / accumulate)."""
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for _ in range(accumulate):
        tokens, targets = batches.batch()
        loss = masked_lm_loss(model, tokens, targets) / accumulate
        loss.backward()
        total += float(loss.detach())
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    opt.step()
    return total


def write_log(out: Path, data_info: dict, model, history: list[dict], steps: list[dict], done: bool) -> dict:
    summary = {"data": data_info, "final": history[-1], "parameters": sum(p.numel() for p in model.parameters()),
               "done": done}
    out.with_suffix(".json").write_text(json.dumps({"summary": summary, "history": history, "steps": steps},
                                                   indent=1))
    return summary


def train(args) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    train_seqs, val_seqs, data_info = load_sequences(args)
    log.info("data: %s", data_info)
    provenance: dict = {}
    if args.init:
        model, alphabet, provenance = init_model(args.init)
        log.info("initialised from %s", args.init)
    else:
        model, alphabet = build_model(args.layers, args.embed_dim, args.heads)
    history: list[dict] = []
    steps: list[dict] = []
    if args.resume:
        model, alphabet, history, steps, provenance = resume_model(args, provenance)
    model = model.to(args.device)
    mlm = MlmConfig(crop=args.crop, batch_size=args.batch_size)
    # The split uses --seed; a resumed run draws new batches so it does not replay the first ones.
    batches = MlmBatches(train_seqs, alphabet, mlm, seed=args.seed + 1000 * bool(args.resume))
    val_batches = [MlmBatches(val_seqs, alphabet, mlm, seed=1).batch() for _ in range(args.val_batches)]
    first = {}
    if args.ternary:
        if not args.resume:
            first["float_val_ppl"] = validation_perplexity(model, val_batches)  # before ternarizing
        names = ternarize_encoder(model, per_channel=args.ternary_per_channel)
        provenance["ternary_qat"] = {"scheme": "BitNet b1.58: absmean ternary weights, absmax int8 per-token "
                                     "Linear inputs, straight-through estimator",
                                     "per_channel": args.ternary_per_channel, "modules": len(names)}
    trainable = set_trainable(model, args.train)
    log.info("training %s: %d parameters%s", args.train, sum(p.numel() for p in trainable),
             " (ternary QAT)" if args.ternary else "")
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    by_steps = args.schedule == "steps"
    if by_steps and args.max_steps is None:
        raise ValueError("--schedule steps needs --max-steps")
    budget, start, last_save = args.minutes * 60.0, time.time(), time.time()
    offset = history[-1]["step"] if history else 0
    history.append({"step": offset, "val_ppl": validation_perplexity(model, val_batches), "minutes": 0.0,
                    "resumed": bool(args.resume), **first})
    log.info("step 0: %s", history[-1])
    step, running = 0, 0.0
    while time.time() - start < budget and (args.max_steps is None or step < args.max_steps):
        lr = (learning_rate(step, step, args.max_steps, args.lr, args.warmup) if by_steps
              else learning_rate(step, time.time() - start, budget, args.lr, args.warmup))
        for group in opt.param_groups:
            group["lr"] = lr
        value = optimizer_step(model, opt, trainable, batches, args.accumulate)
        step += 1
        running = 0.98 * running + 0.02 * value if step > 1 else value
        steps.append({"step": offset + step, "loss": round(value, 5), "lr": lr,
                      "minutes": round((time.time() - start) / 60, 4)})
        if step % args.log_every == 0:
            log.info("step %d  loss %.3f  lr %.2e  %.1f min", step, running, lr, (time.time() - start) / 60)
        if time.time() - last_save > args.save_every_minutes * 60:
            history.append({"step": offset + step, "train_loss": running, "minutes": (time.time() - start) / 60,
                            "val_ppl": validation_perplexity(model, val_batches)})
            log.info("checkpoint: %s", history[-1])
            save_checkpoint(out, model, args, history, provenance, steps)
            write_log(out, data_info, model, history, steps, done=False)
            last_save = time.time()
    history.append({"step": offset + step, "train_loss": running, "minutes": (time.time() - start) / 60,
                    "val_ppl": validation_perplexity(model, val_batches)})
    save_checkpoint(out, model, args, history, provenance, steps)
    summary = write_log(out, data_info, model, history, steps, done=True)
    log.info("done: %s", summary)
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m exporter.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="FASTA or FASTA.gz of training sequences")
    p.add_argument("--exclude-assays", help="ProteinGym assay directory: drop sequences near its wild types")
    p.add_argument("--out", required=True, help="checkpoint path (.pt); a .json log is written beside it")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--embed-dim", type=int, default=128)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--crop", type=int, default=256, help="residues per training crop")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--minutes", type=float, default=60.0, help="wall-clock training budget")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    p.add_argument("--val-sequences", type=int, default=512)
    p.add_argument("--val-batches", type=int, default=16)
    p.add_argument("--save-every-minutes", type=float, default=5.0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", help="start from this checkpoint's weights (fresh optimizer and schedule)")
    p.add_argument("--init", help="start from a pretrained ESM-2 (any MODEL `python -m exporter` takes); "
                   "--layers/--embed-dim/--heads are then taken from it")
    p.add_argument("--train", choices=("all", "lm-head"), default="all",
                   help="what to optimise: every parameter, or only the LM head (encoder frozen)")
    p.add_argument("--ternary", action="store_true",
                   help="quantization-aware training with BitNet b1.58 ternary encoder Linears (2Bits of Protein)")
    p.add_argument("--ternary-per-channel", action="store_true",
                   help="with --ternary: one absmean scale per output row instead of per matrix")
    p.add_argument("--accumulate", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--schedule", choices=("time", "steps"), default="time",
                   help="cosine over the --minutes budget (default) or over --max-steps")
    args = p.parse_args(argv)
    if args.accumulate < 1:
        p.error(f"--accumulate must be >= 1, got {args.accumulate}")
    if args.ternary_per_channel and not args.ternary:
        p.error("--ternary-per-channel needs --ternary")
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fit ESM-2's contact-regression head (logistic regression on attention maps) from structures.

    python -m exporter.fit_contacts runs/default/checkpoint.pt --train DIR [DIR ...] [--test DIR]

As in ESM-1b/ESM-2 (Rao et al. 2021): features are the symmetrized, APC-corrected attention maps
of every layer and head; labels are CB-CB contacts under 8 A; an L1-regularised logistic
regression over pairs with |i - j| >= 6. Writes `<stem>-contact-regression.pt` beside the
checkpoint (fair-esm's convention), which `python -m exporter` merges when it loads the file.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch

from packbuild.sequences import encode

from .loaders import load
from .structures import precision_at_l, read_chain

log = logging.getLogger("exporter.fit_contacts")
MIN_SEP = 6


def attention_features(model, sequence: str) -> torch.Tensor:
    """(L, L, layers*heads) features exactly as fair-esm's ContactPredictionHead builds them."""
    from esm.modules import apc, symmetrize

    tokens = torch.from_numpy(encode(sequence))
    with torch.no_grad():
        attn = model(tokens, need_head_weights=True)["attentions"]  # (1, layers, heads, T, T)
    keep = tokens.ne(model.eos_idx).to(attn)
    attn = attn * keep[:, None, None, None, :] * keep[:, None, None, :, None]
    attn = attn[..., 1:-1, 1:-1]
    b, layers, heads, t, _ = attn.shape
    return apc(symmetrize(attn.reshape(b, layers * heads, t, t)))[0].permute(1, 2, 0)


def collect(model, paths: list[Path], max_len: int) -> list[tuple[torch.Tensor, np.ndarray]]:
    data = []
    for path in paths:
        chain = read_chain(path)
        if len(chain.sequence) > max_len:
            chain.sequence, chain.cb = chain.sequence[:max_len], chain.cb[:max_len]
        data.append((attention_features(model, chain.sequence), chain.contacts()))
    return data


def fit(data, l1: float = 1e-3, steps: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """L1-regularised logistic regression on standardized features, folded back to raw features.

    APC-corrected attention values are ~1e-3, so raw-feature weights must be large; fitting in
    z-scores keeps the optimisation well conditioned (full-batch L-BFGS).
    """
    xs, ys = [], []
    for feats, truth in data:
        i, j = np.triu_indices(truth.shape[0], k=MIN_SEP)
        xs.append(feats[i, j])
        ys.append(torch.from_numpy(truth[i, j].astype(np.float32)))
    x, y = torch.cat(xs).double(), torch.cat(ys).double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-12)
    z = (x - mean) / std
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, y) + l1 * w.abs().sum()
        loss.backward()
        return loss

    opt.step(closure)
    w_raw = (w / std).detach()
    return w_raw.float(), (b - (w_raw * mean).sum()).detach().float()


def evaluate(data, w: torch.Tensor, b: torch.Tensor) -> float:
    scores = [precision_at_l(torch.sigmoid(f @ w + b).numpy(), t) for f, t in data]
    return float(np.nanmean(scores))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m exporter.fit_contacts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="fair-esm style .pt (e.g. from python -m exporter.train)")
    p.add_argument("--train", nargs="+", type=Path, required=True, help="directories of PDB files to fit on")
    p.add_argument("--test", nargs="*", type=Path, default=[], help="directories of PDB files to report on")
    p.add_argument("--max-len", type=int, default=500)
    p.add_argument("--l1", type=float, default=1e-3)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model = load(str(args.checkpoint)).torch_model
    train = collect(model, sorted(f for d in args.train for f in d.glob("*.pdb")), args.max_len)
    w, b = fit(train, l1=args.l1)
    out = args.checkpoint.with_name(args.checkpoint.stem + "-contact-regression.pt")
    torch.save({"model": {"contact_head.regression.weight": w[None, :], "contact_head.regression.bias": b}}, out)
    print(f"fitted on {len(train)} structures: long-range P@L/5 {evaluate(train, w, b):.3f} (train)")
    if args.test:
        test = collect(model, sorted(f for d in args.test for f in d.glob("*.pdb")), args.max_len)
        print(f"held out {len(test)} structures: long-range P@L/5 {evaluate(test, w, b):.3f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

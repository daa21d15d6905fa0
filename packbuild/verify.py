"""Fidelity of an ONNX model to a float reference on held-out sequences (logits SQNR, top-1, variant Spearman).

The reference outputs come from the caller: the torch model (exporter.verify.reference_outputs) or
the pack's own fp32 graph (packbuild.build, no torch).
"""
from __future__ import annotations


import numpy as np
import onnx
import onnxruntime as ort

from app.core.jobs import Progress
from app.core.pack_error import PackError
from app.core.session import open_session, session_options

from .onnx_io import ort_session
from .metrics import spearman, sqnr_db, substitution_mask, wt_marginal
from .sequences import TOKEN_IDS, encode


def session(model: onnx.ModelProto | str, threads: int | None = None) -> ort.InferenceSession:
    opts = session_options(threads)
    opts.inter_op_num_threads = 0
    opts.log_severity_level = 2
    if isinstance(model, str):
        return open_session(model, opts)
    return ort_session(model, opts)


class RuntimeSession:
    """The app's Esm2Runtime behind the `run(names, feed)` call verify makes: verification
    reads the staged pack exactly as the app will (hashes, side weights, output checks)."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def run(self, names: list[str], feed: dict) -> list:
        out = self.runtime.run(feed["tokens"], tuple(names))
        return [out[n] for n in names]


def check_finite(outputs: dict[str, np.ndarray], who: str) -> None:
    """ValueError naming `who` and the output when any value is NaN or infinite: a verification
    table computed from such outputs would be NaN and the pack unusable."""
    for name, array in outputs.items():
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ValueError(f"{who}: output {name!r} has {bad} non-finite values of {np.size(array)}; "
                             f"export stopped")


def verify(sess: ort.InferenceSession, sequences: list[str], references: list[dict[str, np.ndarray]],
           progress: Progress | None = None, reference: str = "torch fp32") -> dict:
    """Logits SQNR, top-1 agreement and variant-score Spearman of `sess` vs the reference outputs.

    - logits_sqnr_db: over every residue position and vocabulary entry, pooled over sequences.
    - top1_agreement: fraction of residue positions whose arg-max token is the same.
    - variant_spearman_vs_fp32: per sequence, Spearman between the reference's and the model's
      wild-type-marginal scores of all 19 L substitutions; mean over sequences.
    """
    ref_all, test_all, agree, rhos = [], [], [], []
    emb_ref, emb_test = [], []
    for i, (seq, ref) in enumerate(zip(sequences, references)):
        try:
            logits, emb = sess.run(["logits", "embeddings"], {"tokens": encode(seq)})
        except PackError as e:  # the runtime's own output check (non-finite values, wrong width)
            raise ValueError(f"verification stopped on held-out sequence {i} ({len(seq)} residues): {e}") from e
        check_finite({"logits": logits, "embeddings": emb}, f"the exported model on held-out sequence {i}")
        check_finite(ref, f"the {reference} reference on held-out sequence {i} (does the checkpoint hold "
                          f"NaN/inf weights?)")
        r, t = ref["logits"][0, 1:-1], logits[0, 1:-1]  # (L, V) residues only
        ref_all.append(r.ravel())
        test_all.append(t.ravel())
        emb_ref.append(ref["embeddings"][0, 1:-1].ravel())
        emb_test.append(emb[0, 1:-1].ravel())
        agree.append(r.argmax(-1) == t.argmax(-1))
        keep = substitution_mask(seq)
        rhos.append(spearman(wt_marginal(ref["logits"][0], seq, TOKEN_IDS)[keep],
                             wt_marginal(logits[0], seq, TOKEN_IDS)[keep]))
        if progress:
            progress(i + 1, len(sequences), "verifying")
    return {"reference": reference, "n_sequences": len(sequences),
            "n_residues": int(sum(len(s) for s in sequences)),
            "logits_sqnr_db": round(sqnr_db(np.concatenate(ref_all), np.concatenate(test_all)), 2),
            "embeddings_sqnr_db": round(sqnr_db(np.concatenate(emb_ref), np.concatenate(emb_test)), 2),
            "top1_agreement": round(float(np.concatenate(agree).mean()), 5),
            "variant_spearman_vs_fp32": round(float(np.nanmean(rhos)), 5)}

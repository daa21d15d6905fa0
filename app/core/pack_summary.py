"""One-line summaries of a pack's size, fidelity and benchmark, shared by the GUI picker, the model
manager and `python -m app models list` (no Qt)."""
from __future__ import annotations


def human_size(n: int) -> str:
    """Bytes as a short human string: 950 B, 9.1 MB, 1.3 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def accuracy_summary(acc: dict) -> str:
    """Fidelity of the quantized graph to its own float model (the manifest's `accuracy`): how much
    quantization changed it, not how good the model is."""
    if "logits_sqnr_db" in acc:
        return f"fidelity to fp32: {float(acc['logits_sqnr_db']):.0f} dB"
    if "top1_agreement" in acc:
        return f"fidelity to fp32: top-1 {100 * float(acc['top1_agreement']):.1f}%"
    return "fidelity to fp32 not measured"


def benchmark_summary(bench: dict) -> str:
    """What the model is good for (the manifest's `benchmark`), e.g. 'ProteinGym Spearman 0.14 on 44 assays'."""
    mean, n = bench.get("mean_spearman"), bench.get("n_assays")
    if mean is None or not n:
        return "no benchmark recorded"
    suite = "ProteinGym" if "ProteinGym" in str(bench.get("suite", "")) else str(bench.get("suite", "benchmark"))
    return f"{suite} Spearman {float(mean):.2f} on {int(n)} assays"

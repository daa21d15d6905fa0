"""Shared bench helpers: default paths, CPU description, memory readings, markdown tables, JSON output."""
from __future__ import annotations

import datetime as _dt
import json
import platform
import resource
import statistics
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"  # ../shared beside the clone (argparse defaults only)
CALIBRATION = REPO / "assets" / "calibration" / "swissprot_calibration_256.fasta"
HELDOUT = REPO / "assets" / "calibration" / "swissprot_heldout_32.fasta"
SIMD_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
              "amx_int8", "amx_bf16")


def cpu_info() -> dict:
    """CPU model, logical CPU count and which SIMD/matrix extensions /proc/cpuinfo lists."""
    model, flags, count = platform.processor() or "unknown", set(), 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name":
                model, count = value.strip(), count + 1
            elif key == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "logical_cpus": count, "flags": {f: f in flags for f in SIMD_FLAGS}}


def cpu_line(info: dict) -> str:
    """'AMD EPYC, 2 CPUs; avx512_vnni yes, amx_int8 no, ...' for table headers."""
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in info["flags"].items())
    return f"{info['model']}, {info['logical_cpus']} logical CPUs; {flags}"


def memory_kb() -> dict:
    """Current and peak resident memory of this process in KiB (VmRSS, VmHWM, ru_maxrss)."""
    out = {"ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[f"{key.lower()}_kb"] = int(value.split()[0])
    except OSError:
        pass
    return out


def load_average() -> float:
    """1-minute load average (other jobs on a shared machine distort timings; recorded with them)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def fmt(x: Any, digits: int = 3) -> str:
    """Numbers to fixed digits, None/NaN to '-', anything else to str."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return "-" if x != x else f"{x:.{digits}f}"
    return str(x)


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 3) -> str:
    """A GitHub markdown table; numeric columns right-aligned."""
    def is_num(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    align = ["---:" if rows and all(is_num(r[i]) or r[i] is None for r in rows) else "---"
             for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(fmt(v, digits) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path: Path | None, payload: dict) -> None:
    """Write `payload` (NaN as null) to `path` when given."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(payload), indent=1) + "\n")


def emit(text: str, payload: dict, json_path: Path | None, md_path: Path | None) -> None:
    """Print the markdown report and write it (--md) and the raw numbers (--json) when asked."""
    print(text)
    write_json(json_path, payload)
    if md_path:
        md_path = Path(md_path)
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(text + "\n")


def _clean(x: Any) -> Any:
    if hasattr(x, "tolist") and not isinstance(x, (list, tuple)):  # numpy scalars and arrays
        x = x.tolist()
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x

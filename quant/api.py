"""The one entry point: quantize(model, config, feeds, make_runner) -> (model, report).

    from quant import make_config, quantize
    qmodel, report = quantize(model, make_config("int8"), feeds, make_runner)

`feeds` are calibration samples (a sequence of {input name: array} dicts, or a zero-argument
callable returning a fresh iterable of them: the stages may each run them); `make_runner(model,
names)` returns `run(feed) -> [array per name]` (quant.calibrate; onnxruntime is the caller's).
A `StatsCache` shared across calls reuses the float graph's statistics between schemes of one
model (and graphs sharing its tensors).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Union

from onnx import ModelProto

from .calibrate import MakeRunner, Progress, calibrate
from .observers import TensorStats
from .registry import handler_for

Feeds = Union[Iterable[dict], Callable[[], Iterable[dict]]]


class StatsCache:
    """TensorStats by (stage context, observer, tensor). Stage 0 sees the float graph, so its
    entries are shared by every scheme; later stages see a partly quantized graph and are keyed
    by the full config as well."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str, str], TensorStats] = {}

    def get(self, context: str, observer, names: list[str]) -> tuple[dict[str, TensorStats], list[str]]:
        key = repr(observer)
        found = {n: self._stats[(context, key, n)] for n in names if (context, key, n) in self._stats}
        return found, [n for n in names if n not in found]

    def put(self, context: str, observer, stats: dict[str, TensorStats]) -> None:
        key = repr(observer)
        self._stats.update({(context, key, n): s for n, s in stats.items()})


def _feed_iter(feeds: Feeds) -> Iterable[dict]:
    return feeds() if callable(feeds) else feeds


def calibration_sites(model: ModelProto, config) -> list[str]:
    """Tensors the first stage of `config`'s handler needs TensorStats for (graph order, unique)."""
    stages = handler_for(config).stages
    if not stages or not config.needs_calibration:
        return []
    return list(dict.fromkeys(stages[0].sites(model, config)))


def _copy(model: ModelProto) -> ModelProto:
    out = ModelProto()
    out.CopyFrom(model)
    return out


def _report(config, sites: list[dict]) -> dict:
    counts = Counter(f"{s['kind']}/{s['method']}/{s['form']}" for s in sites)
    codec = config.weights.describe() if hasattr(config, "weights") else None
    weights = sorted({s["weight"] for s in sites if "weight" in s})
    return {"scheme": config.name, "config": config.to_dict(), "sites": sites,
            "weights": [{"name": w, **codec} for w in weights] if codec else [], "counts": dict(counts)}


def apply_scheme(model: ModelProto, config, stats: dict[str, TensorStats]) -> tuple[ModelProto, dict]:
    """Apply a one-stage scheme with precomputed `stats` (tests; quantize is the general path).
    ValueError when `config`'s scheme has stages that need calibration on its own output."""
    stages = handler_for(config).stages
    if config.needs_calibration and any(stage.sites(model, config) for stage in stages[1:]):
        raise ValueError(f"{config.name}: placement {config.placement} has a stage calibrated on the "
                         f"partly quantized graph; use quant.quantize")
    out, sites = _copy(model), []
    for stage in stages:
        out = stage.apply(out, config, stats, sites)
    return out, _report(config, sites)


def quantize(model: ModelProto, config, feeds: Feeds = (), make_runner: MakeRunner | None = None, *,
             progress: Progress | None = None, cache: StatsCache | None = None) -> tuple[ModelProto, dict]:
    """Quantize `model` per `config`: for each stage of its handler, calibrate the tensors it names
    on the graph so far (when the config needs calibration), then rewrite. Returns the new model
    and the JSON-ready report {"scheme", "config", "sites", "weights", "counts"}. The input model
    is not modified. ValueError when calibration is needed and there is no `make_runner`."""
    stages = handler_for(config).stages
    cache = cache if cache is not None else StatsCache()
    out, sites = _copy(model), []
    for i, stage in enumerate(stages):
        names = list(dict.fromkeys(stage.sites(out, config))) if config.needs_calibration else []
        stats: dict[str, TensorStats] = {}
        if names:
            if make_runner is None:
                raise ValueError(f"scheme {config.name!r} needs calibration: pass feeds and make_runner")
            context = "float" if i == 0 else f"stage{i}:{config!r}"
            stats, missing = cache.get(context, config.observer, names)
            if missing:
                new = calibrate(out, missing, _feed_iter(feeds), make_runner, config.observer, progress)
                cache.put(context, config.observer, new)
                stats.update(new)
        out = stage.apply(out, config, stats, sites)
    return out, _report(config, sites)

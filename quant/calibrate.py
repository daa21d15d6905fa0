"""Calibration: feeds in, per-tensor TensorStats out; the runtime is injected (make_runner)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from onnx import ModelProto, ValueInfoProto

from .errors import GraphRewriteError, TensorStatsError
from .observers import ObserverConfig, TensorObserver, TensorStats

log = logging.getLogger(__name__)

Runner = Callable[[dict], list[np.ndarray]]
MakeRunner = Callable[[ModelProto, list[str]], Runner]
# (done, total or 0 when unknown, message): the same type as app.core.jobs.Progress, which
# quant may not import.
Progress = Callable[[int, int, str], None]


def with_outputs(model: ModelProto, tensor_names: Sequence[str]) -> ModelProto:
    """Copy of `model` whose graph outputs also include the named intermediate tensors."""
    graph = model.graph
    produced = {t for n in graph.node for t in n.output}
    for name in tensor_names:
        if name not in produced:
            raise GraphRewriteError(name, "not produced by any node of the graph")
    out = ModelProto()
    out.CopyFrom(model)
    present = {o.name for o in out.graph.output}
    for name in tensor_names:
        if name not in present:  # untyped: runtimes infer the type (as ORT's own calibrator does)
            out.graph.output.append(ValueInfoProto(name=name))
            present.add(name)
    return out


def calibrate(model: ModelProto, tensor_names: Sequence[str], feeds: Iterable[dict[str, np.ndarray]],
              make_runner: MakeRunner, observer_config: ObserverConfig | None = None,
              progress: Progress | None = None) -> dict[str, TensorStats]:
    """Run every feed through `model` and summarise the named tensors.

    Graph inputs among `tensor_names` are observed straight from the feed; other names must be
    node outputs and are added as graph outputs on a copy. `make_runner(model, names)` returns
    `run(feed) -> [array for each name]`. Each feed is one calibration sample (per-sample
    observers, e.g. the PTQ4Protein top-k, treat it as a unit). Observer errors name the tensor
    and the 0-based sample index.
    """
    config = observer_config or ObserverConfig()
    names = list(dict.fromkeys(tensor_names))
    inputs = {i.name for i in model.graph.input}
    fetched = [n for n in names if n not in inputs]
    run = make_runner(with_outputs(model, fetched), fetched)
    observers = {n: TensorObserver(n, config) for n in names}
    total = len(feeds) if hasattr(feeds, "__len__") else 0
    count = 0
    for count, feed in enumerate(feeds, start=1):
        values = dict(zip(fetched, run(feed)))
        values.update({n: feed[n] for n in names if n in inputs})
        for name in names:
            try:
                observers[name].update(values[name])
            except TensorStatsError as e:
                raise type(e)(name, f"{e.reason} (calibration sample {count - 1})") from e
        if progress is not None:
            progress(count, total, f"calibration sample {count}")
    log.info("calibrated %d tensors on %d samples (%s observer)", len(names), count, config.kind)
    return {n: obs.finalize() for n, obs in observers.items()}

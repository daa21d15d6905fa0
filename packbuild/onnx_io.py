"""ONNX models of any size in and out of files and onnxruntime sessions (protobuf stops at 2 GB)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import onnx
from onnx.external_data_helper import load_external_data_for_model

from quant.rewrite import weight_bytes

EXTERNAL_DATA_LIMIT = 1_800_000_000  # bytes of weights; protobuf refuses > 2 GiB, leave room for the graph



def save_onnx(model: onnx.ModelProto, path: Path, limit: int | None = None) -> list[Path]:
    """Save one ONNX file, with external data beside it when the weights pass ~2 GB.

    onnx's external-data save rewrites the in-memory initializers into references to the file;
    they are read back afterwards so the caller's model stays usable (e.g. for the next scheme).
    """
    limit = EXTERNAL_DATA_LIMIT if limit is None else limit
    path = Path(path)
    if weight_bytes(model) <= limit:
        onnx.save_model(model, str(path))
        return [path]
    data = path.name + ".data"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data, size_threshold=1024)
    load_external_data_for_model(model, str(path.parent))
    return [path, path.with_name(data)]


def ort_session(model: onnx.ModelProto, options=None):
    """An onnxruntime CPU session for `model`, through a temporary file when it passes 2 GB."""
    from app.core.session import open_session

    if weight_bytes(model) <= EXTERNAL_DATA_LIMIT:
        return open_session(model.SerializeToString(), options)
    tmp = tempfile.TemporaryDirectory(prefix="edgefold-ort-")
    path = Path(tmp.name) / "model.onnx"
    save_onnx(model, path)
    session = open_session(path, options)
    session._edgefold_tmp = tmp  # external data may be memory-mapped: keep it while the session lives
    return session

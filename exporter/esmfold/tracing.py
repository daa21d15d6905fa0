"""Tracing a torch module into ONNX with the TorchScript exporter (the traced folding parts and pieces)."""
from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import onnx

from packbuild.onnx_builder import IR_VERSION
from packbuild.onnx_io import EXTERNAL_DATA_LIMIT
from .patches import export_patches

TRACE_OPSET = 17


def trace(module, inputs: dict, outputs: tuple[str, ...], axes: dict, custom_opsets: dict | None = None,
          via_file_above: int = EXTERNAL_DATA_LIMIT) -> onnx.ModelProto:
    """`module` traced on `inputs` ({name: example tensor}) with the TorchScript exporter, opset 17.

    Modules whose weights pass `via_file_above` bytes (ESMFold's trunk is ~2.7 GB) are traced into a
    temporary file, where the exporter writes external data past protobuf's 2 GB, and read back.
    """
    import torch

    nbytes = sum(p.numel() * p.element_size() for p in module.parameters())
    with tempfile.TemporaryDirectory(prefix="edgefold-trace-") as tmp:
        target = str(Path(tmp) / "model.onnx") if nbytes > via_file_above else io.BytesIO()
        with export_patches(), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings about python-side shape checks
            torch.onnx.export(module, tuple(inputs.values()), target, dynamo=False, opset_version=TRACE_OPSET,
                              input_names=list(inputs), output_names=list(outputs), dynamic_axes=axes,
                              custom_opsets=custom_opsets)
        proto = (onnx.load_from_string(target.getvalue()) if isinstance(target, io.BytesIO)
                 else onnx.load(target))  # external data, if any, is read into memory here
    proto.ir_version = min(proto.ir_version, IR_VERSION)
    return proto

"""Offline exporter: checkpoints -> calibrated, quantized ONNX model packs."""
__version__ = "0.1.0"

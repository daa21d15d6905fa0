"""Protein folding with an ESMFold pack: numpy + onnxruntime only (no torch)."""

"""EdgeFold post-training quantization: observers, quantizers (uniform, PWLQ), ONNX rewrites, schemes."""

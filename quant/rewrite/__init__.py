"""ONNX graph rewrites (ModelProto -> ModelProto, standard ops, opset >= 13, made for opset 21)."""
from ._graph import fresh_name, weight_bytes
from .attention_int8 import AttentionInt8Target, quantize_attention
from .dynamic_int8 import quantize_linears_dynamic
from .fake_quant import FakeQuantTarget, insert_fake_quant
from .pwlq_fake import DynamicPwlqTarget, PwlqTarget, insert_pwlq_dynamic, insert_pwlq_fake_quant
from .pwlq_channels import PwlqChannelTarget, channel_split_linears
from .pwlq_split import PwlqSplitTarget, split_pwlq_linears
from .pwlq_tokens import TokenGridTarget, token_grid_linears
from .smooth import smooth_linears
from .qdq_static import quantize_linears_static

__all__ = [
    "fresh_name", "AttentionInt8Target", "quantize_attention",
    "quantize_linears_static", "quantize_linears_dynamic", "FakeQuantTarget", "insert_fake_quant",
    "PwlqTarget", "DynamicPwlqTarget", "insert_pwlq_fake_quant", "insert_pwlq_dynamic",
    "PwlqSplitTarget", "split_pwlq_linears", "PwlqChannelTarget", "channel_split_linears",
    "TokenGridTarget", "token_grid_linears", "weight_bytes", "smooth_linears",
]

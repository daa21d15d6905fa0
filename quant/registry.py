"""The scheme registry: one line per scheme, name -> (config type, handler).

    quant.quantize(model, make_config("pwlq8", split="never"), feeds, make_runner)

A new scheme is a config class (quant.configs), a handler (quant.handlers) and one line in
REGISTRY. Everything else (the exporter's --schemes choices, "needs calibration", the manifest's
`scheme_config`) is read from here and from the config.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .configs import DynamicInt8Config, Fp32Config, Int8Config, Pwlq8Config, TernaryConfig
from .handlers import Handler
from .handlers.dynamic import DYNAMIC, NOTHING
from .handlers.static import STATIC
from .handlers.ternary import TERNARY


@dataclass(frozen=True)
class Scheme:
    """config: its frozen config type; handler: what it does to a graph; families: the model
    families whose graphs it knows how to place (ternary's default `linears` names ESM-2's)."""

    config: type
    handler: Handler
    summary: str
    families: tuple[str, ...] = ("esm2", "esmfold")


REGISTRY: dict[str, Scheme] = {
    "fp32": Scheme(Fp32Config, NOTHING, "float32, nothing quantized"),
    "int8": Scheme(Int8Config, STATIC, "static uniform 8-bit activations, int8 per-channel weights"),
    "pwlq8": Scheme(Pwlq8Config, STATIC, "PTQ4Protein piecewise-linear 8-bit"),
    "dynamic-int8": Scheme(DynamicInt8Config, DYNAMIC, "int8 weights, activations quantized at run time"),
    "ternary": Scheme(TernaryConfig, TERNARY, "2Bits of Protein: ternary {-1,0,1} encoder weights", ("esm2",)),
}


class UnknownSchemeError(ValueError):
    """A scheme name the registry does not have; the message lists the known ones."""

    def __init__(self, name: object) -> None:
        self.name = name
        super().__init__(f"unknown quantization scheme {name!r}; known schemes: {', '.join(REGISTRY)}")


def scheme_names(family: str | None = None) -> tuple[str, ...]:
    """Registered names, optionally only those for one model family ("esm2", "esmfold")."""
    return tuple(n for n, s in REGISTRY.items() if family is None or family in s.families)


def scheme(name: str) -> Scheme:
    if name not in REGISTRY:
        raise UnknownSchemeError(name)
    return REGISTRY[name]


def make_config(name: str, **overrides):
    """The registered config of `name` with its defaults, fields replaced by `overrides`;
    UnknownSchemeError for a name, TypeError naming a field the scheme does not have."""
    config_type = scheme(name).config
    known = {f.name for f in fields(config_type)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"scheme {name!r} has no option {unknown[0]!r}; its options: {', '.join(sorted(known)) or 'none'}")
    return config_type(**overrides)


def handler_for(config) -> Handler:
    """The handler registered for `config`'s type; TypeError for an unregistered config type."""
    entry = REGISTRY.get(getattr(config, "name", None))
    if entry is None or not isinstance(config, entry.config):
        raise TypeError(f"{type(config).__name__} is not a registered scheme config "
                        f"(known schemes: {', '.join(REGISTRY)})")
    return entry.handler

"""From command-line strings to one quant scheme config, built once and passed down.

    scheme_config("pwlq8", observer="ptq4protein", split="never", placement=("linear",))

Options a scheme does not have are not applied (e.g. --pwlq-split for int8, --placement for
dynamic-int8, whose placement is fixed), as the CLI documents. ESM-2 configs start from
quant.configs.esm2_defaults (Linear inputs only; pwlq8's tokens form), as packbuild's do;
ESMFold's placement stays PTQ4Protein's: Linear, LayerNorm and Softmax inputs, and its pwlq8 the
exact split (`form="exact"`, --pwlq-form exact, also reproduces it for ESM-2).
"""
from __future__ import annotations

from dataclasses import fields

from quant import ObserverConfig, make_config, scheme, scheme_names
from quant.configs import esm2_defaults

FAMILIES = ("esm2", "esmfold")
ESMFOLD_PLACEMENT = ("linear", "layernorm", "softmax")
PAPER_PLACEMENT = ("linear", "layernorm")  # PTQ4Protein's, for ESM-2: `--placement linear,layernorm`


def parse_schemes(text: str, family: str = "esm2") -> list[str]:
    """The comma-separated --schemes list; quant.UnknownSchemeError (a ValueError listing the known
    schemes) for a name the registry lacks, ValueError for an empty list or a scheme that does not
    apply to `family`."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise ValueError(f"--schemes {text!r}: no scheme named; known schemes: {', '.join(scheme_names())}")
    for name in names:
        if family not in scheme(name).families:
            raise ValueError(f"scheme {name!r} does not apply to {family} models; "
                             f"for {family}: {', '.join(scheme_names(family))}")
    return list(dict.fromkeys(names))


def scheme_config(name: str, observer: str | None = None, split: str | None = None,
                  placement: tuple[str, ...] | None = None, family: str = "esm2", form: str | None = None,
                  attention: str | None = None, outliers: str | None = None):
    """The registered config of `name` with the given overrides where the scheme has them
    (`attention`: Int8Config.attention of the calibrated schemes; `outliers`: pwlq8's
    token_outliers, for the tokens form)."""
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} not in {FAMILIES}")
    config_type = scheme(name).config
    known = {f.name for f in fields(config_type)}
    overrides: dict = esm2_defaults(config_type) if family == "esm2" else {}
    if observer is not None and "observer" in known:
        overrides["observer"] = ObserverConfig(observer)
    if split is not None and "split" in known:
        overrides["split"] = split
    if form is not None and "linear_form" in known:
        overrides["linear_form"] = form
    if attention is not None and "attention" in known:
        overrides["attention"] = attention
    if outliers is not None and "token_outliers" in known:
        overrides["token_outliers"] = outliers
    if "layernorm" in config_type.placements:  # a fixed placement (dynamic, ternary) stays
        if placement is not None:
            overrides["placement"] = tuple(placement)
        elif family == "esmfold":
            overrides["placement"] = ESMFOLD_PLACEMENT
    if family == "esm2" and "softmax" in overrides.get("placement", ()):
        raise ValueError("--placement softmax applies to ESMFold only (ESM-2 packs quantize Linear and "
                         "LayerNorm inputs)")
    return make_config(name, **overrides)


def without(config, placement: str):
    """`config` with `placement` removed from its placement (unchanged if absent or fixed)."""
    if placement not in getattr(config, "placement", ()) or len(config.placement) == 1:
        return config
    from dataclasses import replace

    return replace(config, placement=tuple(p for p in config.placement if p != placement))

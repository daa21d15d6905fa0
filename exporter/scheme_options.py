"""From command-line strings to one quant scheme config, built once and passed down.

    scheme_config("pwlq8", observer="ptq4protein", split="never", placement=("linear",))

Options a scheme does not have are not applied (e.g. --pwlq-split for int8, --placement for
dynamic-int8, whose placement is fixed), as the CLI documents. ESM-2's default placement for
calibrated schemes is Linear inputs only (measured on the real 8M: more accurate than PTQ4Protein's
Linear + LayerNorm placement and no slower); ESMFold's stays PTQ4Protein's: Linear, LayerNorm and
Softmax inputs. ESM-2's pwlq8 runs its Linears in the "tokens" form (quant.configs.ESM2_LINEAR_FORM);
`form="exact"` (--pwlq-form exact) is PTQ4Protein's, ESMFold's default.
"""
from __future__ import annotations

from dataclasses import fields

from quant import ObserverConfig, make_config, scheme, scheme_names
from quant.configs import ESM2_LINEAR_FORM

FAMILIES = ("esm2", "esmfold")
ESMFOLD_PLACEMENT = ("linear", "layernorm", "softmax")
ESM2_PLACEMENT = ("linear",)
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
    overrides: dict = {}
    if observer is not None and "observer" in known:
        overrides["observer"] = ObserverConfig(observer)
    if split is not None and "split" in known:
        overrides["split"] = split
    if form is None and family == "esm2":
        form = ESM2_LINEAR_FORM
    if form is not None and "linear_form" in known:
        overrides["linear_form"] = form
    if attention is not None and "attention" in known:
        overrides["attention"] = attention
    if outliers is not None and "token_outliers" in known:
        overrides["token_outliers"] = outliers
    choosable = "layernorm" in config_type.placements  # a fixed placement (dynamic, ternary) stays
    if choosable:
        if placement is not None:
            overrides["placement"] = tuple(placement)
        else:
            overrides["placement"] = ESMFOLD_PLACEMENT if family == "esmfold" else ESM2_PLACEMENT
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

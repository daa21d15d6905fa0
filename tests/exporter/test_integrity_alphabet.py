"""The app's copy of the ESM-2 alphabet (app/core/alphabet.py: the app may not import exporter) is the exporter's."""
import esm

from app.core.alphabet import ESM2_SPECIAL, ESM2_TOKENS
from app.core.pack_checks import check_alphabet
from packbuild.pack import alphabet_manifest
from packbuild.weights import ALPHABET_TOKENS, SPECIAL


def test_app_alphabet_is_the_exporters():
    assert ESM2_TOKENS == ALPHABET_TOKENS and ESM2_SPECIAL == SPECIAL
    check_alphabet(alphabet_manifest())  # what every exported manifest carries passes the app's check


def test_app_alphabet_is_fair_esms():
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    assert list(ESM2_TOKENS) == alphabet.all_toks
    assert ESM2_SPECIAL == {"cls_idx": alphabet.cls_idx, "padding_idx": alphabet.padding_idx,
                            "eos_idx": alphabet.eos_idx, "unk_idx": alphabet.unk_idx, "mask_idx": alphabet.mask_idx}

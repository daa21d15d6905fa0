"""One exit-code convention for every CLI: 2 usage/input, 1 run failed, 130 interrupted."""
import pytest

from app.cli import CliError
from app.core.exit_codes import FAILED, INTERRUPTED, USAGE, exit_code
from app.core.fasta import FastaError
from app.core.fold.memory import FoldMemoryError
from app.core.jobs import Cancelled
from app.core.mutants import MutantError
from app.core.pack_error import PackError
from app.core.runtime import InferenceError


@pytest.mark.parametrize("exc,code", [
    (ValueError("bad --schemes"), USAGE),
    (FastaError("bad residue"), USAGE),
    (MutantError("bad mutant", "A2G"), USAGE),
    (PackError("truncated", "/p"), USAGE),
    (FileNotFoundError("no such file"), USAGE),
    (CliError("--model missing"), USAGE),
    (InferenceError("NaN in logits"), FAILED),
    (MemoryError("needs 90 GB"), FAILED),
    (RuntimeError("export failed"), FAILED),
    (CliError("record 'p': NaN", FAILED), FAILED),
    (KeyboardInterrupt(), INTERRUPTED),
    (Cancelled(), INTERRUPTED),
])
def test_exit_code_by_exception(exc, code):
    assert exit_code(exc) == code


def test_codes_are_argparse_compatible():
    assert (FAILED, USAGE, INTERRUPTED) == (1, 2, 130)  # argparse exits 2 on a usage error
    assert issubclass(FoldMemoryError, MemoryError)

"""Moved to `packbuild.metrics` (torch-free: the app's pack builder and the exporter share it).

This name stays an alias of that module, so `exporter.metrics` imports, and patches of its
attributes in tests, keep working in code written before the move.
"""
import sys

from packbuild import metrics as _moved

sys.modules[__name__] = _moved

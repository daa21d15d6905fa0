"""Read a torch checkpoint (`torch.save`) into numpy arrays without torch and without running its code.

A torch checkpoint is a pickle; a general unpickler (`pickle.load`, `torch.load(weights_only=False)`)
calls whatever globals the file names, e.g. `os.system`. This reader's `find_class` resolves only:

- what tensors need: `torch._utils._rebuild_tensor_v2` (and `_rebuild_tensor`, `_rebuild_parameter`),
  the typed storages `torch.FloatStorage`, `torch.HalfStorage`, ... (markers carrying a numpy dtype),
  `collections.OrderedDict`, `torch.Size`, and the plain containers of `builtins`;
- configuration objects (`argparse.Namespace` in fair-esm's `cfg`, omegaconf/fairseq configs, numpy
  scalars): inert `Placeholder` objects that only record their arguments and state;
- anything else: `UnsafeCheckpointError` naming the global. Nothing the file names is ever called.

Two container formats (torch/serialization.py):
- zip (torch >= 1.6): `<prefix>/data.pkl` plus one entry `<prefix>/data/<key>` per storage, the raw
  little-endian bytes; stored entries are memory-mapped, not read.
- legacy (`_use_new_zipfile_serialization=False`): four pickles in a row (magic number, protocol,
  system info, the object), then the list of storage keys, then each storage as an int64 element
  count and its raw bytes.
"""
from __future__ import annotations

import _compat_pickle
import builtins
import collections
import io
import mmap
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage class -> numpy dtype ("bfloat16" is read as uint16 and widened to float32).
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
SAFE_BUILTINS = {"set", "frozenset", "tuple", "list", "dict", "bool", "int", "float", "str", "bytes",
                 "bytearray", "complex"}
# Globals (module prefixes or full names) that become inert placeholders: configuration only.
PLACEHOLDER_PREFIXES = ("argparse.", "omegaconf.", "fairseq.", "typing.", "enum.", "numpy.",
                        "pathlib.", "copyreg._reconstructor", "builtins.object", "collections.defaultdict")


class UnsafeCheckpointError(ValueError):
    """The pickle names a global outside the allow-list; the message names it and the file."""


class Placeholder:
    """An object the checkpoint described but that is never built: its class name, arguments and state.

    `argparse.Namespace(encoder_layers=33)` reads back as a Placeholder whose `state` is
    {"encoder_layers": 33}; `get("encoder_layers")` looks there (and in omegaconf's `_content`).
    """
    global_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "Placeholder":
        obj = object.__new__(cls)
        obj.args, obj.state = args, None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> "Placeholder":
        return type(self)(*args)

    def __repr__(self) -> str:
        return f"<placeholder {self.global_name}>"

    def get(self, key: str, default: Any = None) -> Any:
        return config_value(self.state, key, default)


def config_value(obj: Any, key: str, default: Any = None) -> Any:
    """`key` of a config read from a checkpoint: a dict, a Placeholder's state, or omegaconf's nodes."""
    if isinstance(obj, Placeholder):
        return obj.get(key, default)
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[1], dict):  # (dict_state, slot_state)
        obj = {**(obj[0] or {}), **obj[1]}
    if not isinstance(obj, dict):
        return default
    if key in obj:
        value = obj[key]
    elif isinstance(obj.get("_content"), dict):
        value = obj["_content"].get(key, default)
    else:
        return default
    if isinstance(value, Placeholder) and isinstance(value.state, dict) and "_val" in value.state:
        return value.state["_val"]  # an omegaconf value node
    return value


class _StorageType:
    """What `torch.FloatStorage` and friends resolve to: the element dtype."""

    def __init__(self, name: str) -> None:
        self.name, self.dtype = name, STORAGE_DTYPES[name]

    @property
    def itemsize(self) -> int:
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize


class _Storage:
    """A storage's raw bytes (a memory map or bytes) and its dtype."""

    def __init__(self, buffer: Any, storage_type: _StorageType) -> None:
        self.buffer, self.type = buffer, storage_type

    def elements(self) -> np.ndarray:
        if self.type.dtype == "bfloat16":
            raw = np.frombuffer(self.buffer, dtype="<u2")
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(self.buffer, dtype=np.dtype(self.type.dtype).newbyteorder("<"))


class _Tensor:
    """A tensor as the pickle describes it; made an array once its storage's bytes are known (the
    legacy format stores them after the object)."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        """A read-only numpy view with the tensor's shape and strides (in elements)."""
        flat = self.storage.elements()
        extent = 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride)) if all(self.size) else 0
        if self.offset + extent > flat.size:
            raise ValueError(f"tensor of shape {self.size} reads past its storage ({flat.size} elements)")
        strides = tuple(s * flat.itemsize for s in self.stride)
        return np.lib.stride_tricks.as_strided(flat[self.offset:], shape=self.size, strides=strides,
                                               writeable=False)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_rest: Any) -> _Tensor:
    """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta])."""
    return _Tensor(storage, offset, size, stride)


def _materialize(obj: Any) -> Any:
    """The loaded object with every _Tensor replaced by its array (dicts, lists and tuples walked)."""
    if isinstance(obj, _Tensor):
        return obj.array()
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for key, value in obj.items():
            out[key] = _materialize(value)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v) for v in obj)
    return obj


def _rebuild_parameter(data: Any, *_rest: Any) -> Any:
    return data


def _placeholder_class(full_name: str) -> type:
    return type(full_name.rsplit(".", 1)[-1], (Placeholder,), {"global_name": full_name})


def resolve_global(module: str, name: str, label: str) -> Any:
    """The object a checkpoint's global may stand for (module docstring); UnsafeCheckpointError otherwise."""
    full = f"{module}.{name}"
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
        return _rebuild_tensor
    if module == "torch._utils" and name == "_rebuild_parameter":
        return _rebuild_parameter
    if module == "torch" and name in STORAGE_DTYPES:
        return _StorageType(name)
    if module == "torch" and name == "Size":
        return tuple
    if module == "builtins" and name in SAFE_BUILTINS:
        return getattr(builtins, name)
    if module == "_codecs" and name == "encode":
        return _latin1_encode
    if any(full == p or full.startswith(p) for p in PLACEHOLDER_PREFIXES):
        return _placeholder_class(full)
    raise UnsafeCheckpointError(
        f"{label}: the checkpoint names the Python global {full!r}, which a model checkpoint does not need; "
        "refusing to read it (only tensors, storages, OrderedDict and configuration objects are read). "
        "If you trust the file, convert it with torch to safetensors.")


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """`_codecs.encode`, which pickle protocol 2 uses for bytes; only the two text codecs it writes."""
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafeCheckpointError(f"_codecs.encode with codec {encoding!r}")
    return text.encode(encoding)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: io.BufferedIOBase, label: str,
                 load_storage: Callable[[tuple], _Storage]) -> None:
        super().__init__(data)
        self.label, self.load_storage = label, load_storage

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (protocol 2 writes builtins as __builtin__), mapped as pickle's own find_class does
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        return resolve_global(module, name, self.label)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"{self.label}: unknown persistent id {str(pid)[:80]!r}")
        if not isinstance(pid[1], _StorageType):
            raise UnsafeCheckpointError(f"{self.label}: storage of unsupported type {pid[1]!r}")
        return self.load_storage(pid)


def _zip_entry_buffer(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, mm: Optional[mmap.mmap]) -> Any:
    """A stored entry's bytes as a slice of the file's memory map; a compressed one read into memory."""
    if info.compress_type != zipfile.ZIP_STORED or mm is None:
        return zf.read(info)
    name_len, extra_len = struct.unpack("<HH", mm[info.header_offset + 26: info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    return memoryview(mm)[start: start + info.file_size]


def _load_zip(path: Path, label: str) -> Any:
    with zipfile.ZipFile(path) as zf:
        pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise ValueError(f"{label}: a zip file without data.pkl, not a torch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        with open(path, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else None
        infos = {i.filename: i for i in zf.infolist()}

        def load_storage(pid: tuple) -> _Storage:
            _, storage_type, key, _location, numel = pid[:5]
            info = infos.get(f"{prefix}data/{key}")
            if info is None:
                raise ValueError(f"{label}: storage {key!r} missing from the archive")
            buffer = _zip_entry_buffer(path, zf, info, mm)
            need = int(numel) * storage_type.itemsize
            if len(buffer) < need:
                raise ValueError(f"{label}: storage {key!r} is truncated ({len(buffer)} of {need} bytes)")
            return _Storage(buffer[:need], storage_type)

        return _Unpickler(io.BytesIO(zf.read(pkl[0])), label, load_storage).load()


def _load_legacy(path: Path, label: str) -> Any:
    """The pre-1.6 format (module docstring). Storages are read after the object, so tensors are
    built once every storage's bytes are known."""
    with open(path, "rb") as fh:
        def header() -> Any:
            return _Unpickler(fh, label, lambda pid: None).load()

        if header() != LEGACY_MAGIC:
            raise ValueError(f"{label}: not a torch checkpoint (no zip archive, no legacy magic number)")
        if header() != LEGACY_PROTOCOL:
            raise ValueError(f"{label}: unsupported legacy torch protocol")
        sys_info = header()
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
            raise ValueError(f"{label}: a big-endian legacy checkpoint")
        pending: dict[str, _Storage] = {}

        def load_storage(pid: tuple) -> _Storage:
            _, storage_type, key = pid[:3]
            if len(pid) > 5 and pid[5] is not None:
                raise ValueError(f"{label}: legacy storage views are not supported")
            return pending.setdefault(str(key), _Storage(b"", storage_type))

        obj = _Unpickler(fh, label, load_storage).load()
        keys = _Unpickler(fh, label, lambda pid: None).load()
        for key in keys:
            count = struct.unpack("<q", fh.read(8))[0]
            storage = pending.get(str(key))
            if storage is None:
                raise ValueError(f"{label}: storage {key!r} is not referenced")
            data = fh.read(count * storage.type.itemsize)
            if len(data) < count * storage.type.itemsize:
                raise ValueError(f"{label}: storage {key!r} is truncated")
            storage.buffer = data
    return obj


def load_checkpoint(path: Path, label: Optional[str] = None) -> Any:
    """The object `torch.save` wrote to `path`, tensors as read-only numpy arrays (float16 and bfloat16
    as stored; bfloat16 widened to float32). UnsafeCheckpointError for a global outside the allow-list,
    ValueError for a file that is not a torch checkpoint."""
    path = Path(path)
    label = label or str(path)
    loaded = _load_zip(path, label) if zipfile.is_zipfile(path) else _load_legacy(path, label)
    return _materialize(loaded)

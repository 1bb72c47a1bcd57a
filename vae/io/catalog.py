"""Checkpoint files without torch: what a load would cost, the settings part of a file, and its listing entry.

A .pt file is a zip archive: a small pickle (``<name>/data.pkl``) with the settings and
references to the weights, which are stored as separate entries (``<name>/data/<key>``).
:func:`read_settings` unpickles that small part with every tensor replaced by a stand-in, so it
reads kilobytes instead of the whole file and needs no torch. On the way it checks what loading
the file would cost: the sizes the archive and the pickle declare, before torch reads any of it.
Like ``torch.load(weights_only=True)`` it never calls anything outside a short allow-list.
"""
from __future__ import annotations

import codecs
import collections
import io
import math
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vae.config import MAX_PARAMETERS
from vae.errors import CheckpointError, VAEError
from vae.io.schema import is_ours, validate_checkpoint

MAX_SETTINGS_BYTES = 2 * 2**20  # data.pkl: settings, 10,000 epochs of history, names of the weights (~0.6 MB)
# Everything one load may read: the largest model's float32 weights plus its settings (about 260 MB).
MAX_LOAD_BYTES = 4 * MAX_PARAMETERS + 2 * MAX_SETTINGS_BYTES
MAX_ARCHIVE_ENTRIES = 4096  # a checkpoint has one entry per tensor storage, plus a few
MAX_DIRECTORY_BYTES = 2**20  # the zip's table of contents (read in full before any entry)
_END_RECORD = struct.Struct("<4s4H2LH")  # the zip's "end of central directory" record
_END_SIGNATURE = b"PK\x05\x06"
_MAX_ZIP_COMMENT = 2**16 - 1
# Bytes per element of each storage type torch writes; the dtype its tensors get.
_STORAGE_TYPES: dict[str, tuple[int, str]] = {
    "DoubleStorage": (8, "torch.float64"), "FloatStorage": (4, "torch.float32"), "HalfStorage": (2, "torch.float16"),
    "BFloat16Storage": (2, "torch.bfloat16"), "LongStorage": (8, "torch.int64"), "IntStorage": (4, "torch.int32"),
    "ShortStorage": (2, "torch.int16"), "CharStorage": (1, "torch.int8"), "ByteStorage": (1, "torch.uint8"),
    "BoolStorage": (1, "torch.bool"), "ComplexFloatStorage": (8, "torch.complex64"),
    "ComplexDoubleStorage": (16, "torch.complex128"), "UntypedStorage": (1, "torch.uint8"),
}
_TENSOR_BUILDERS = ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3")
_PARAMETER_BUILDERS = ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
                       "torch.nn.parameter.Parameter")
_INERT_TORCH_NAMES = ("torch.serialization._get_layout",)  # besides torch.<name>: dtypes, Size, device, ...


@dataclass(frozen=True)
class CheckpointInfo:
    """What the model list shows, read from a checkpoint file; ``problem`` says why a file cannot be used."""

    name: str
    path: Path
    dataset: str
    latent_dim: int
    kind: str
    test_elbo: float | None
    created: str
    size_bytes: int
    problem: str = ""  # empty for a usable model; else the plain reason it cannot be opened
    likelihood: str = "bernoulli"  # how the model scores pixels (what its test ELBO means)


def read_info(path: str | Path) -> CheckpointInfo:
    """The listing entry of one checkpoint in this app's format, read without torch.

    Raises:
        CheckpointError: unreadable, too costly to load, not this app's format, or a field is wrong.
    """
    source = Path(path)
    raw = read_settings(source)
    if not is_ours(raw):
        raise CheckpointError(f"{source.name} is not in this app's format.")
    return info_from_fields(source, validate_checkpoint(raw, source.name))


def info_from_fields(path: Path, fields: dict, size_bytes: int | None = None) -> CheckpointInfo:
    """A listing entry from a checkpoint's checked fields (:func:`vae.io.schema.validate_checkpoint`)."""
    config = fields["model_config"]
    return CheckpointInfo(
        name=path.stem, path=path, dataset=fields["dataset"] or "unknown", latent_dim=config["latent_dim"],
        kind=config["kind"], test_elbo=fields["metrics"].get("test_elbo"), created=fields["created"],
        size_bytes=path.stat().st_size if size_bytes is None else size_bytes, likelihood=config["likelihood"],
    )


def unreadable_info(path: Path, size_bytes: int, problem: str) -> CheckpointInfo:
    """A listing entry for a file that cannot be opened, with the reason."""
    return CheckpointInfo(name=path.stem, path=path, dataset="", latent_dim=0, kind="", test_elbo=None, created="",
                          size_bytes=size_bytes, problem=problem)


# ---------------------------------------------------------------- reading the settings, bounded


def read_settings(path: str | Path) -> object:
    """The unpickled settings part of a .pt file (tensors as :class:`TensorStandIn`), without torch.

    Before returning it checks what ``torch.load`` would cost on this file: the zip's table of
    contents, every entry's declared size, and each weight storage the pickle declares against
    the entry that holds it. Nothing large is read or allocated on the way.

    Raises:
        CheckpointError: missing, not a zip-format .pt, would cost too much to load, or names a
            callable (would run code).
    """
    source = Path(path)
    try:
        with open(source, "rb") as handle:
            _check_table_of_contents(handle, source.name)
            with zipfile.ZipFile(handle) as archive:
                return _read_bounded(archive, source.name)
    except VAEError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint file called {source.name} was found.") from None
    except Exception:  # noqa: BLE001 - damaged zips and pickles raise many kinds
        raise corrupt_file(source.name) from None


def corrupt_file(name: str) -> CheckpointError:
    """The error for a file that is not a readable checkpoint."""
    return CheckpointError(f"{name} could not be read: the file is truncated or corrupt. Save or download it again.")


def runs_code(name: str) -> CheckpointError:
    """The error for a file whose pickle names a callable outside the allow-list."""
    return CheckpointError(f"{name} was refused: it contains Python objects that would run code when opened. "
                           f"Only plain weights and settings are accepted.")


def too_costly(name: str, what: str) -> CheckpointError:
    """The error for a file that declares more than a checkpoint of this app can hold (``what`` says how much)."""
    return CheckpointError(f"{name} was refused: {what}. No model of this app needs that much; the file is damaged "
                           f"or was made to exhaust the memory.")


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.0f} MB"


def _check_table_of_contents(handle: io.BufferedReader, name: str) -> None:
    """Refuse a zip whose table of contents is too long before zipfile reads it all (one object per entry)."""
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    if size > MAX_LOAD_BYTES + MAX_DIRECTORY_BYTES:
        raise too_costly(name, f"the file holds {_megabytes(size)} (at most {_megabytes(MAX_LOAD_BYTES)})")
    tail_size = min(size, _END_RECORD.size + _MAX_ZIP_COMMENT)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    start = tail.rfind(_END_SIGNATURE)
    if start < 0 or len(tail) - start < _END_RECORD.size:
        raise corrupt_file(name)
    _, _, _, _, entries, directory_bytes, _, _ = _END_RECORD.unpack_from(tail, start)
    if entries > MAX_ARCHIVE_ENTRIES or directory_bytes > MAX_DIRECTORY_BYTES:
        raise too_costly(name, f"its table of contents lists {entries:,} entries in {directory_bytes:,} bytes (at most "
                               f"{MAX_ARCHIVE_ENTRIES:,} entries in {MAX_DIRECTORY_BYTES:,} bytes)")
    handle.seek(0)


def _read_bounded(archive: zipfile.ZipFile, name: str) -> object:
    entries = archive.infolist()
    if not entries or len(entries) > MAX_ARCHIVE_ENTRIES:
        raise corrupt_file(name)
    folder = entries[0].filename.split("/", 1)[0] + "/"  # torch reads every entry below the first one's folder
    by_name = {entry.filename: entry for entry in entries}
    if len({entry.filename.lower() for entry in entries}) != len(entries):
        raise corrupt_file(name)  # two entries of one name: torch and zipfile might read different ones
    declared = sum(entry.file_size for entry in entries)
    if declared > MAX_LOAD_BYTES:
        raise too_costly(name, f"its entries unpack to {_megabytes(declared)} (at most {_megabytes(MAX_LOAD_BYTES)})")
    settings = by_name.get(f"{folder}data.pkl")
    if settings is None:
        raise CheckpointError(f"{name} is not a checkpoint saved by this app.")
    if settings.file_size > MAX_SETTINGS_BYTES:
        raise too_costly(name, f"its settings unpack to {_megabytes(settings.file_size)} (at most "
                               f"{_megabytes(MAX_SETTINGS_BYTES)})")
    with archive.open(settings) as stream:
        unpickler = _SettingsUnpickler(io.BytesIO(stream.read(MAX_SETTINGS_BYTES + 1)), name)
        raw = unpickler.load()
    _check_storages(unpickler.storages, by_name, folder, name)
    return raw


def _check_storages(storages: dict[str, StorageStandIn], by_name: dict[str, zipfile.ZipInfo], folder: str,
                    name: str) -> None:
    """Each declared storage must be an entry of exactly its declared size: torch would read that many bytes."""
    for key, storage in storages.items():
        entry = by_name.get(f"{folder}data/{key}")
        if entry is None or entry.file_size != storage.nbytes:
            raise corrupt_file(name)


# ---------------------------------------------------------------- stand-ins for torch's objects


class _Sealed:
    """A stand-in a pickle cannot change: its BUILD opcode would otherwise overwrite the sizes counted here."""

    def __setstate__(self, state: object) -> None:
        raise pickle.UnpicklingError("a stand-in cannot take a state")


class StorageStandIn(_Sealed):
    """Takes the place of a weight storage: its key in the archive, element count and type."""

    def __init__(self, key: str, numel: int, element_bytes: int, dtype: str) -> None:
        self.key, self.numel, self.element_bytes, self.dtype = key, numel, element_bytes, dtype

    @property
    def nbytes(self) -> int:
        """Bytes torch would read for this storage."""
        return self.numel * self.element_bytes


class TensorStandIn(_Sealed):
    """Takes the place of a tensor while reading settings: keeps its shape and dtype, never its numbers."""

    def __init__(self, storage: object = None, size: object = (), dtype: str = "") -> None:
        self.shape = tuple(size) if isinstance(size, (tuple, list)) else ()
        self.dtype = dtype or getattr(storage, "dtype", "")


class _StorageType(_Sealed):
    """A storage class named in the pickle (``torch.FloatStorage``); only its element size matters here."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.element_bytes, self.dtype = _STORAGE_TYPES[name]


class _TorchName(_Sealed):
    """Any other torch name (a dtype, ``torch.Size``, a device): inert, and calling it gives another stand-in."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: object) -> "_TorchName":
        return self

    def __str__(self) -> str:
        return self.name


class _Refused(pickle.UnpicklingError):
    """Raised inside the unpickler; carries the CheckpointError to report."""

    def __init__(self, error: CheckpointError) -> None:
        super().__init__(str(error))
        self.error = error


class _SettingsUnpickler(pickle._Unpickler):  # noqa: SLF001 - the pure-Python unpickler, on purpose
    """Unpickles a checkpoint's data.pkl with tensors as stand-ins and the declared sizes added up.

    The pure-Python unpickler keeps its memo in a dict: the C one grows a table to the largest
    memo index a pickle names, so 18 bytes could make it allocate gigabytes.
    """

    def __init__(self, stream: io.BytesIO, name: str) -> None:
        super().__init__(stream)
        self.name = name
        self.storages: dict[str, StorageStandIn] = {}
        self.tensor_bytes = 0

    def load(self) -> object:
        try:
            return super().load()
        except _Refused as refused:
            raise refused.error from None
        except RecursionError:
            raise corrupt_file(self.name) from None

    def find_class(self, module: str, name: str) -> object:
        full = f"{module}.{name}"
        if full in _TENSOR_BUILDERS:
            return self._rebuild_tensor
        if full in _PARAMETER_BUILDERS:
            return _first_argument
        if module in ("torch", "torch.storage") and name.endswith("Storage"):
            if name not in _STORAGE_TYPES:
                raise _Refused(CheckpointError(f"{self.name} stores numbers of a kind this app does not read."))
            return _StorageType(name)
        if full.startswith(("torch._utils._rebuild", "torch._tensor._rebuild")):
            raise _Refused(CheckpointError(f"{self.name} holds tensors of a kind this app does not read "
                                           f"(only plain tensors are)."))
        if module == "torch" or full in _INERT_TORCH_NAMES:
            return _TorchName(full)  # dtypes, torch.Size, devices, layouts: never called for real
        if (module, name) in _BYTEARRAY_NAMES:
            return self._bytearray
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise _Refused(runs_code(self.name))
        return allowed

    def persistent_load(self, pid: object) -> StorageStandIn:
        """A reference to a weight storage: ('storage', type, key, location, element count)."""
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage" or not isinstance(pid[1], _StorageType)
                or not isinstance(pid[2], str) or not _is_count(pid[4])):
            raise _Refused(corrupt_file(self.name))
        storage_type, key, numel = pid[1], pid[2], pid[4]
        storage = self.storages.setdefault(key, StorageStandIn(key, numel, storage_type.element_bytes,
                                                               storage_type.dtype))
        if storage.nbytes > MAX_LOAD_BYTES:
            raise _Refused(too_costly(self.name, f"it declares a block of {_megabytes(storage.nbytes)} of weights "
                                                 f"(at most {_megabytes(MAX_LOAD_BYTES)})"))
        return storage

    def _rebuild_tensor(self, storage: object, offset: object, size: object, *rest: object) -> TensorStandIn:
        """Count the tensor's bytes: repeating one large view many times must not pass unnoticed."""
        if not isinstance(storage, StorageStandIn) or not isinstance(size, tuple) or not all(map(_is_count, size)):
            raise _Refused(corrupt_file(self.name))
        self.tensor_bytes += math.prod(size) * storage.element_bytes
        if self.tensor_bytes > MAX_LOAD_BYTES:
            raise _Refused(too_costly(self.name, f"its tensors add up to {_megabytes(self.tensor_bytes)} or more (at "
                                                 f"most {_megabytes(MAX_LOAD_BYTES)})"))
        dtype = str(rest[3]) if len(rest) > 3 and isinstance(rest[3], _TorchName) else ""  # _rebuild_tensor_v3
        return TensorStandIn(storage, size, dtype)

    def _bytearray(self, source: object = b"") -> bytearray:
        """bytearray(b"...") copies bytes of the pickle; bytearray(n) would allocate n bytes of the file's choosing."""
        if not isinstance(source, (bytes, bytearray)):
            raise _Refused(too_costly(self.name, "it asks for a block of memory of a size of its own choosing"))
        return bytearray(source)


def _first_argument(data: object, *rest: object) -> object:
    return data  # a Parameter wraps a tensor: the stand-in of the tensor does


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _latin1(text: object, encoding: object = "latin1") -> bytes:
    """How protocol-2 pickles spell bytes: _codecs.encode(text, 'latin1'); no other codec is run."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 text may be encoded")
    return codecs.encode(text, "latin1")


# The only other callables a checkpoint's pickle may name: the harmless part of torch's own allow-list.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict, ("collections", "Counter"): collections.Counter,
    ("builtins", "set"): set, ("__builtin__", "set"): set, ("builtins", "complex"): complex,
    ("__builtin__", "complex"): complex, ("_codecs", "encode"): _latin1,
}
_BYTEARRAY_NAMES = (("builtins", "bytearray"), ("__builtin__", "bytearray"))

"""GGUF files, checked before anything loads them: header, metadata, tensor infos, sizes.

llama.cpp reads a GGUF only once a run has started and its Ray actors load the model, so
a broken file used to fail 23 s into a run, with tracebacks and a run folder left behind.
:func:`inspect_gguf` reads the header alone (never the tensor data) and says at once
what is wrong with a file that is empty, not GGUF at all, truncated, or whose header lies:
counts no file of its size could hold, a tensor whose data lies past the end of the file.

The layout is the one the ``gguf`` package writes (its constants name the value types,
the tensor types and their block sizes)::

    magic "GGUF" | version u32 | tensor count u64 | metadata count u64
    metadata: key string, value type u32, value            (strings: u64 length + UTF-8)
    tensor infos: name string, n_dims u32, dims u64[n_dims], type u32, offset u64
    padding to ``general.alignment`` (default 32), then the tensor data

Every read is checked against the file size first. ``gguf.GGUFReader`` does not do that:
an array header that claims 2^60 one-byte items past the end of the file makes it loop
on empty reads, so it must never see an unchecked file.

It also says what the file holds: its quantization (:attr:`GGUFFile.quantization`, from
``general.file_type``, or guessed from the tensor types as llama.cpp's loader guesses it
when the key is missing) and its tensor-type mix (:meth:`GGUFFile.tensor_types`). The
tensor types are the ``gguf`` package's, corrected where the pinned ggml differs (Q2_0,
which ``gguf`` 0.19.0 does not know; Q8_1's block size); types llama.cpp has removed
are refused with its advice.
``tests/evals/models/test_gguf_files.py`` checks both lists against llama.cpp's ggml library.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf.constants import (
    GGML_QUANT_SIZES,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGMLQuantizationType,
    GGUFValueType,
)

from contracts.errors import UserError
from contracts.files import open_regular
from contracts.quantizations import FILE_TYPES, GUESSED_BIT

SUPPORTED_VERSIONS = (2, 3)  # what gguf.GGUFReader and llama.cpp read
HEADER_BYTES = 4 + 4 + 8 + 8
MAX_DIMS = 4  # GGML_MAX_DIMS
# The smallest a metadata entry (empty key, type, 1-byte value) and a tensor info (empty
# name, no dims, type, offset) can be: a header whose counts cannot fit is refused unread.
MIN_ENTRY_BYTES = 8 + 4 + 1
MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8
# The largest real metadata arrays are vocabularies (about 256K tokens); far beyond that is a lie.
MAX_ARRAY_ITEMS = 1 << 22
MAX_ARRAY_DEPTH = 3
KEPT_ARRAY_ITEMS = 1024  # longer arrays are walked and summarized, not kept

_SCALAR_FORMATS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}


@dataclass(frozen=True)
class TensorType:
    """A ggml tensor type: its id in the file, its name and its block layout."""

    id: int
    name: str
    block: int  # elements per block
    block_bytes: int


# Where the pinned ggml and gguf 0.19.0 disagree: Q2_0 is newer than gguf, and ggml's Q8_1 block holds two
# f16 scales (36 bytes) where gguf still counts two f32 (40).
_GGUF_CORRECTIONS = (TensorType(42, "Q2_0", 64, 18), TensorType(9, "Q8_1", 32, 36))
TENSOR_TYPES: dict[int, TensorType] = {
    **{int(t): TensorType(int(t), t.name, *GGML_QUANT_SIZES[t]) for t in GGMLQuantizationType},
    **{t.id: t for t in _GGUF_CORRECTIONS},
}
# ggml types llama.cpp has removed (it refuses files that hold them), and what to use instead.
REMOVED_TENSOR_TYPES = {
    4: ("Q4_2", "Q4_0"),
    5: ("Q4_3", "Q4_0"),
    31: ("Q4_0_4_4", "Q4_0"),
    32: ("Q4_0_4_8", "Q4_0"),
    33: ("Q4_0_8_8", "Q4_0"),
    36: ("IQ4_NL_4_4", "IQ4_NL"),
    37: ("IQ4_NL_4_8", "IQ4_NL"),
    38: ("IQ4_NL_8_8", "IQ4_NL"),
}
# llama.cpp's guess of a file type from the type most of its tensors have (llama-model-loader.cpp), for a file
# without general.file_type; a type not listed is guessed as all F32, as llama.cpp does.
_GUESS = {
    "F32": "FP32",
    "F16": "FP16",
    "BF16": "BF16",
    "Q4_0": "Q4_0",
    "Q4_1": "Q4_1",
    "Q5_0": "Q5_0",
    "Q5_1": "Q5_1",
    "Q8_0": "Q8_0",
    "Q2_K": "Q2_K",
    "Q3_K": "Q3_K_M",
    "Q4_K": "Q4_K_M",
    "Q5_K": "Q5_K_M",
    "Q6_K": "Q6_K",
    "TQ1_0": "TQ1_0",
    "TQ2_0": "TQ2_0",
    "IQ2_XXS": "IQ2_XXS",
    "IQ2_XS": "IQ2_XS",
    "IQ2_S": "IQ2_S",
    "IQ3_XXS": "IQ3_XXS",
    "IQ1_S": "IQ1_S",
    "IQ1_M": "IQ1_M",
    "IQ4_NL": "IQ4_NL",
    "IQ4_XS": "IQ4_XS",
    "IQ3_S": "IQ3_S",
    "NVFP4": "NVFP4",
}


def mix_text(mix: dict[str, dict[str, int]]) -> str:
    """A tensor-type mix in words: ``Q4_1 x15, Q6_K x1, F32 x5`` (most weights first)."""
    return ", ".join(f"{name} x{share['tensors']}" for name, share in mix.items())


class GGUFError(UserError):
    """The file is not a GGUF that llama.cpp could load; the message says what is wrong."""


@dataclass(frozen=True)
class GGUFArray:
    """A metadata array too long to keep (a vocabulary, say): its item type and length."""

    item_type: GGUFValueType
    length: int


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    type: TensorType
    shape: tuple[int, ...]  # ggml order: the first dimension is the contiguous one
    offset: int  # absolute, from the start of the file
    n_bytes: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Quantization:
    """A GGUF's quantization name, and where it was read: ``general.file_type``, or guessed from the tensors."""

    name: str
    guessed: bool

    def describe(self) -> str:
        return (
            f"{self.name} (guessed from its tensor types: it has no general.file_type)" if self.guessed else self.name
        )


@dataclass(frozen=True)
class GGUFFile:
    """What a GGUF's header says, every tensor's data checked to lie inside the file."""

    path: Path
    size: int
    version: int
    alignment: int
    data_offset: int
    metadata: dict[str, Any] = field(repr=False)
    tensors: tuple[GGUFTensor, ...] = field(repr=False)

    @property
    def architecture(self) -> str:
        return str(self.metadata["general.architecture"])

    @property
    def quantization(self) -> Quantization:
        """What llama.cpp calls this file: its ``general.file_type``, else guessed from the tensor types as it does."""
        value = self.metadata.get("general.file_type")
        name = FILE_TYPES.get(value & ~GUESSED_BIT) if isinstance(value, int) else None
        if name is not None:
            return Quantization(name, guessed=False)
        counts: dict[str, int] = {}
        most, most_count = "F32", 0
        for tensor in sorted(self.tensors, key=lambda t: t.name):  # llama.cpp counts over its name-ordered map
            counts[tensor.type.name] = counts.get(tensor.type.name, 0) + 1
            if counts[tensor.type.name] > most_count:
                most, most_count = tensor.type.name, counts[tensor.type.name]
        return Quantization(_GUESS.get(most, "FP32"), guessed=True)

    def tensor_types(self) -> dict[str, dict[str, int]]:
        """The tensor-type mix: type name -> how many tensors and how many weights (elements) have it."""
        mix: dict[str, dict[str, int]] = {}
        for tensor in self.tensors:
            share = mix.setdefault(tensor.type.name, {"tensors": 0, "elements": 0})
            share["tensors"] += 1
            share["elements"] += tensor.elements
        return dict(sorted(mix.items(), key=lambda item: (-item[1]["elements"], item[0])))

    @property
    def chat_template(self) -> str | None:
        """The chat template the file carries (``tokenizer.chat_template``), if any."""
        template = self.metadata.get("tokenizer.chat_template")
        return template if isinstance(template, str) and template.strip() else None


def inspect_gguf(path: str | Path) -> GGUFFile:
    """Read and check a GGUF file's header; raises :class:`GGUFError` (or ``NotARegularFile``)."""
    path = Path(path)
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise GGUFError("the file is empty (0 bytes)")
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as data:
            return _Reader(data, path, size).read()
    finally:
        os.close(fd)


class _Reader:
    def __init__(self, data: mmap.mmap, path: Path, size: int) -> None:
        self.data, self.path, self.size = data, path, size
        self.pos = 0
        self.order = "<"

    def read(self) -> GGUFFile:
        magic = self.data[:4]
        if magic != struct.pack("<I", GGUF_MAGIC):
            raise GGUFError(f"it starts with {magic!r}, not the GGUF magic b'GGUF': it is not a GGUF file")
        self.pos = 4
        version = self._unpack("I", "the version")
        if version & 0xFFFF == 0:  # written on a big-endian machine
            self.order, version = ">", struct.unpack(">I", struct.pack("<I", version))[0]
        if version not in SUPPORTED_VERSIONS:
            raise GGUFError(f"GGUF version {version} is not one llama.cpp reads ({SUPPORTED_VERSIONS})")
        n_tensors = self._unpack("Q", "the tensor count")
        n_entries = self._unpack("Q", "the metadata count")
        room = self.size - HEADER_BYTES
        if n_tensors * MIN_TENSOR_INFO_BYTES + n_entries * MIN_ENTRY_BYTES > room:
            raise GGUFError(
                f"the header claims {n_tensors:,} tensors and {n_entries:,} metadata entries, "
                f"more than a file of {self.size:,} bytes can describe"
            )
        metadata: dict[str, Any] = {}
        for _ in range(n_entries):
            key = self._string("a metadata key")
            if key in metadata:
                raise GGUFError(f"metadata key {key!r} appears twice")
            metadata[key] = self._value(self._value_type(key), key, depth=0)
        if not isinstance(metadata.get("general.architecture"), str):
            raise GGUFError("it has no general.architecture entry, so it is not model weights llama.cpp can load")
        alignment = metadata.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise GGUFError(f"general.alignment is {alignment!r}, not a power of two")
        infos = [self._tensor_info() for _ in range(n_tensors)]
        if not infos:
            raise GGUFError("it holds no tensors, so it holds no weights")
        data_offset = -(-self.pos // alignment) * alignment
        tensors = tuple(
            self._tensor(name, shape, kind, offset, data_offset, alignment) for name, shape, kind, offset in infos
        )
        names = [t.name for t in tensors]
        if len(set(names)) != len(names):
            raise GGUFError("a tensor name appears twice")
        return GGUFFile(self.path, self.size, version, alignment, data_offset, metadata, tensors)

    def _take(self, n: int, what: str) -> bytes:
        if n > self.size - self.pos:
            raise GGUFError(
                f"{what} at byte {self.pos:,} runs past the end of the file ({self.size:,} bytes): "
                "the file is truncated, or its header lies"
            )
        start, self.pos = self.pos, self.pos + n
        return self.data[start : self.pos]

    def _unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack(self.order + fmt, self._take(struct.calcsize(fmt), what))[0]

    def _string(self, what: str) -> str:
        length = self._unpack("Q", what)
        return self._take(length, what).decode("utf-8", errors="replace")

    def _value_type(self, key: str) -> GGUFValueType:
        raw = self._unpack("I", f"the type of {key!r}")
        try:
            return GGUFValueType(raw)
        except ValueError:
            raise GGUFError(f"metadata {key!r} has value type {raw}, which GGUF does not define") from None

    def _value(self, kind: GGUFValueType, key: str, depth: int) -> Any:
        if kind in _SCALAR_FORMATS:
            return self._unpack(_SCALAR_FORMATS[kind], f"the value of {key!r}")
        if kind == GGUFValueType.STRING:
            return self._string(f"the value of {key!r}")
        if depth >= MAX_ARRAY_DEPTH:
            raise GGUFError(f"metadata {key!r} nests arrays more than {MAX_ARRAY_DEPTH} deep")
        item_type = self._value_type(key)
        length = self._unpack("Q", f"the length of {key!r}")
        item_bytes = struct.calcsize(_SCALAR_FORMATS[item_type]) if item_type in _SCALAR_FORMATS else 8
        if length > MAX_ARRAY_ITEMS or length * item_bytes > self.size - self.pos:
            raise GGUFError(f"metadata {key!r} claims {length:,} items, more than the file can hold")
        if item_type in _SCALAR_FORMATS:
            raw = self._take(length * item_bytes, f"the items of {key!r}")
            if length > KEPT_ARRAY_ITEMS:
                return GGUFArray(item_type, length)
            return list(struct.unpack(f"{self.order}{length}{_SCALAR_FORMATS[item_type]}", raw))
        items = [self._value(item_type, key, depth + 1) for _ in range(length)]
        return items if length <= KEPT_ARRAY_ITEMS else GGUFArray(item_type, length)

    def _tensor_info(self) -> tuple[str, tuple[int, ...], int, int]:
        name = self._string("a tensor name")
        n_dims = self._unpack("I", f"the dimension count of tensor {name!r}")
        if n_dims > MAX_DIMS:
            raise GGUFError(f"tensor {name!r} claims {n_dims:,} dimensions; ggml tensors have at most {MAX_DIMS}")
        shape = tuple(self._unpack("Q", f"the shape of tensor {name!r}") for _ in range(n_dims))
        kind = self._unpack("I", f"the type of tensor {name!r}")
        offset = self._unpack("Q", f"the data offset of tensor {name!r}")
        return name, shape, kind, offset

    def _tensor(
        self, name: str, shape: tuple[int, ...], kind: int, offset: int, data_offset: int, alignment: int
    ) -> GGUFTensor:
        tensor_type = TENSOR_TYPES.get(kind)
        if tensor_type is None and kind in REMOVED_TENSOR_TYPES:
            removed, instead = REMOVED_TENSOR_TYPES[kind]
            raise GGUFError(
                f"tensor {name!r} has type {removed}, which llama.cpp has removed; quantize the F16/F32 GGUF "
                f"again as {instead} (llama.cpp repacks it for the CPU at load time)"
            )
        if tensor_type is None:
            raise GGUFError(f"tensor {name!r} has type {kind}, which ggml does not define")
        block, block_bytes = tensor_type.block, tensor_type.block_bytes
        elements = 1
        for dim in shape:
            elements *= dim
        if elements >= 2**63:
            raise GGUFError(f"tensor {name!r} claims shape {list(shape)}, more elements than ggml can address")
        if shape and shape[0] % block:
            raise GGUFError(
                f"tensor {name!r} has {shape[0]} columns, not a multiple of {tensor_type.name}'s block of {block}"
            )
        if offset % alignment:
            raise GGUFError(f"tensor {name!r} starts at offset {offset:,}, not aligned to {alignment}")
        n_bytes = elements // block * block_bytes
        end = data_offset + offset + n_bytes
        if end > self.size:
            raise GGUFError(
                f"tensor {name!r} ({tensor_type.name}, shape {list(shape)}) ends at byte {end:,}, "
                f"past the end of the file ({self.size:,} bytes): the file is truncated, or its header lies"
            )
        return GGUFTensor(name, tensor_type, shape, data_offset + offset, n_bytes)

"""Precision and quantization names: FP32/FP16/BF16 and every GGUF file type the pinned llama.cpp loads.

A GGUF names its own quantization in ``general.file_type``, a value of llama.cpp's
``enum llama_ftype``. The names here are derived from that enum as the ``gguf``
package spells it (``LlamaFileType.MOSTLY_Q4_K_M`` -> ``Q4_K_M``, the name
llama.cpp's quantize tool takes), not typed by hand, so a file type llama.cpp
knows is a name a submission may use. The float types keep the names the
safetensors variants use: ``ALL_F32`` is ``FP32``, ``MOSTLY_F16`` ``FP16``,
``MOSTLY_BF16`` ``BF16``.

The pinned llama.cpp (llama-cpp-python 0.3.36) knows one file type that the
pinned ``gguf`` package (0.19.0) does not yet: ``LLAMA_FTYPE_MOSTLY_Q2_0``.
:data:`NEWER_THAN_GGUF` adds it; ``tests/contracts/test_quantizations.py``
checks the whole list against llama.cpp's own ``LLAMA_FTYPE_*`` constants and
``llama_ftype_name``, and fails once ``gguf`` learns the type (drop it here then).

Kept in ``contracts`` because the submission contract is checked without the
engine (the pull-request check installs pydantic, PyYAML and gguf only).
"""

from __future__ import annotations

from gguf.constants import LlamaFileType

from contracts.names import did_you_mean

# The unquantized precisions, with the torch dtype a safetensors variant loads in.
FLOAT_PRECISIONS = {"FP32": "float32", "FP16": "float16", "BF16": "bfloat16"}
_FLOAT_FILE_TYPES = {"ALL_F32": "FP32", "MOSTLY_F16": "FP16", "MOSTLY_BF16": "BF16"}
# general.file_type values the pinned llama.cpp knows and gguf 0.19.0 does not (llama.h's enum llama_ftype).
NEWER_THAN_GGUF = {41: "Q2_0"}
# llama.cpp marks a file type it guessed from the tensors (no general.file_type) with this bit.
GUESSED_BIT = 1024


def _name(member: LlamaFileType) -> str:
    return _FLOAT_FILE_TYPES.get(member.name) or member.name.removeprefix("MOSTLY_").removeprefix("ALL_")


# general.file_type value -> its name, in llama.cpp's numbering.
FILE_TYPES: dict[int, str] = dict(
    sorted({**{int(m): _name(m) for m in LlamaFileType if m != LlamaFileType.GUESSED}, **NEWER_THAN_GGUF}.items())
)
GGUF_QUANTS = tuple(name for name in FILE_TYPES.values() if name not in FLOAT_PRECISIONS)
QUANTIZATIONS = tuple(FLOAT_PRECISIONS) + GGUF_QUANTS
FILE_TYPE_VALUES = {name: value for value, name in FILE_TYPES.items()}

# Other spellings people use, as llama.cpp's quantize tool accepts them ("Q4_K" is "alias for Q4_K_M")
# and as GGUF file names and llama.cpp's own type names spell the float types and MXFP4.
ALIASES = {
    "F32": "FP32",
    "F16": "FP16",
    "Q3_K": "Q3_K_M",
    "Q4_K": "Q4_K_M",
    "Q5_K": "Q5_K_M",
    "MXFP4": "MXFP4_MOE",
}


def canonical(name: str) -> str:
    """The canonical name for ``name`` (any case, an alias); raises ``ValueError`` naming the known ones."""
    upper = name.strip().upper()
    upper = ALIASES.get(upper, upper)
    if upper not in QUANTIZATIONS:
        raise ValueError(
            f"unknown quantization {name!r}{did_you_mean(upper, QUANTIZATIONS)}; known: {', '.join(QUANTIZATIONS)} "
            "(or leave name out and it is read from the GGUF file)"
        )
    return upper


def file_type_name(value: int) -> str | None:
    """The name of a ``general.file_type`` value (the guessed bit ignored); None for one llama.cpp does not name."""
    return FILE_TYPES.get(value & ~GUESSED_BIT)

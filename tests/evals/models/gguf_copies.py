"""Copies of the demo GGUFs with changed metadata or weight types, written with the ``gguf`` package.

The sources are the project's own fixtures (trusted), so ``gguf.GGUFReader`` may read them.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np


def copy_gguf(
    source: Path, target: Path, *, metadata: dict[str, object] | None = None, weight_type: str | None = None
) -> Path:
    """``source`` with string/int ``metadata`` set (an int as u32, as general.file_type is written) and, with
    ``weight_type``, every weight matrix stored as zeros of that ggml type."""
    metadata = metadata or {}
    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(str(target), arch=str(reader.fields["general.architecture"].contents()))
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in metadata:
            continue
        writer.add_key_value(key, field.contents(), field.types[0], field.types[1] if len(field.types) > 1 else None)
    for key, value in metadata.items():
        if isinstance(value, str):
            writer.add_string(key, value)
        else:
            writer.add_uint32(key, int(value))  # type: ignore[call-overload]
    kind = gguf.GGMLQuantizationType[weight_type] if weight_type else None
    for tensor in reader.tensors:
        if kind is not None and len(tensor.shape) == 2 and not tensor.name.endswith("norm.weight"):
            block, block_bytes = gguf.GGML_QUANT_SIZES[kind]
            columns, rows = (int(d) for d in tensor.shape)  # ggml order: the row length first
            writer.add_tensor(tensor.name, np.zeros((rows, columns // block * block_bytes), np.uint8), raw_dtype=kind)
        else:
            writer.add_tensor(tensor.name, np.asarray(tensor.data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target

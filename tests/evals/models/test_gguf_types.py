"""Every GGUF type the pinned llama.cpp loads: named from the file, checked against llama.cpp itself.

The names (``contracts.quantizations``) and tensor types (``evals.models.gguf_files``) come from
the ``gguf`` package; here they are compared with llama.cpp's own lists (its
``LLAMA_FTYPE_*`` constants, ``llama_ftype_name``, and ggml's type table read from
``libggml-base``), and real files of each type, made by llama.cpp's quantizer from the
demo model's F32 GGUF, are read back and loaded by llama.cpp. The types its quantizer
only makes with an importance matrix are written here with zero weights and the
right layout: llama.cpp loads them all the same.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import gguf
import pytest

from contracts.quantizations import FILE_TYPES, GUESSED_BIT, NEWER_THAN_GGUF
from contracts.submission import parse_submission
from evals.models.fixtures import TRAINED
from evals.models.fixtures.quantize import QuantizeError, quantize
from evals.models.gguf_files import REMOVED_TENSOR_TYPES, TENSOR_TYPES, GGUFError, inspect_gguf
from evals.models.variants import VariantError, check_local_weights, resolve_variants
from tests.evals.models.gguf_copies import copy_gguf

llama_cpp = pytest.importorskip("llama_cpp")

# File types llama.cpp's quantizer refuses to make without an importance matrix (or at all: NVFP4),
# with the ggml type llama.cpp gives their weights (llama-quant.cpp's default type for the file type).
NEEDS_IMATRIX = {
    "IQ2_XXS": "IQ2_XXS",
    "IQ2_XS": "IQ2_XS",
    "IQ2_S": "IQ2_XS",
    "IQ2_M": "IQ2_S",
    "IQ1_S": "IQ1_S",
    "IQ1_M": "IQ1_M",
    "IQ3_XXS": "IQ3_XXS",
    "IQ3_XS": "IQ3_S",
    "Q2_K_S": "Q2_K",
    "NVFP4": "NVFP4",
}


def _ggml() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    lib.ggml_type_name.restype, lib.ggml_type_name.argtypes = ctypes.c_char_p, [ctypes.c_int]
    lib.ggml_blck_size.restype, lib.ggml_blck_size.argtypes = ctypes.c_int64, [ctypes.c_int]
    lib.ggml_type_size.restype, lib.ggml_type_size.argtypes = ctypes.c_size_t, [ctypes.c_int]
    return lib


def _llama_ftype(path: Path) -> int:
    """The file type llama.cpp's loader reports for ``path`` (it loads the whole model)."""
    llm = llama_cpp.Llama(str(path), n_ctx=64, n_threads=1, verbose=False)
    try:
        return int(llama_cpp.llama_model_ftype(llm.model))
    finally:
        llm.close()


def _make(name: str, demo_models, folder: Path) -> Path:
    """A real GGUF of file type ``name``: llama.cpp's quantizer where it can, else zero weights of the right type."""
    f32 = Path(demo_models[TRAINED].gguf["F32"])
    target = folder / f"demo-{name}.gguf"
    if name in NEEDS_IMATRIX:
        file_type = {"general.file_type": FILE_TYPES_BY_NAME[name]}
        return copy_gguf(f32, target, metadata=file_type, weight_type=NEEDS_IMATRIX[name])
    quantize(f32, target, name, threads=1)
    return target


FILE_TYPES_BY_NAME = {name: value for value, name in FILE_TYPES.items()}


def _submission_for(path: Path, name: str | None = None) -> object:
    named = f"name: {name}, " if name else ""
    return parse_submission(
        f'model:\n  name: "m"\n  local_path: "{path}"\n  parameters: "1.7M"\n'
        f"  quantizations:\n    - {{{named}format: gguf}}\n"
    )


# --- the lists, against llama.cpp's own ------------------------------------------------------------


def test_file_type_names_are_llama_cpps() -> None:
    """Every llama.cpp file type is a name, by the quantize tool's spelling (LLAMA_FTYPE_MOSTLY_<name>)."""
    constants = {
        getattr(llama_cpp, c): c.removeprefix("LLAMA_FTYPE_")
        for c in dir(llama_cpp)
        if c.startswith("LLAMA_FTYPE_") and c != "LLAMA_FTYPE_GUESSED"
    }
    spelled = {
        v: {"ALL_F32": "FP32", "MOSTLY_F16": "FP16", "MOSTLY_BF16": "BF16"}.get(c, c) for v, c in constants.items()
    }
    assert FILE_TYPES == {v: n.removeprefix("MOSTLY_") for v, n in spelled.items()}
    assert GUESSED_BIT == llama_cpp.LLAMA_FTYPE_GUESSED
    for value in FILE_TYPES:
        assert b"unknown" not in llama_cpp.llama_ftype_name(value), value
    # What gguf 0.19.0 lacks is added by hand; once gguf knows it, drop it from NEWER_THAN_GGUF.
    assert not set(NEWER_THAN_GGUF) & {int(m) for m in gguf.LlamaFileType}


def test_tensor_types_are_ggmls() -> None:
    """Same ids, names and block layouts as the pinned ggml; the removed ones are the ones ggml marks removed."""
    ggml = _ggml()
    count = llama_cpp.GGML_TYPE_COUNT
    known = {i for i in range(count) if ggml.ggml_blck_size(i) > 0}
    assert set(TENSOR_TYPES) == known
    assert set(REMOVED_TENSOR_TYPES) == set(range(count)) - known
    for i, kind in TENSOR_TYPES.items():
        assert kind.name.lower() == ggml.ggml_type_name(i).decode().lower()
        assert (kind.block, kind.block_bytes) == (ggml.ggml_blck_size(i), ggml.ggml_type_size(i))
    for i, (name, _) in REMOVED_TENSOR_TYPES.items():
        assert name in ggml.ggml_type_name(i).decode() or ggml.ggml_type_name(i) == b"DEPRECATED", i


# --- real files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["Q4_1", "Q5_1", "Q8_0", "Q4_K_M", "F32"])
def test_the_demo_files_name_themselves(demo_models, variant: str) -> None:
    for model in demo_models.values():
        info = inspect_gguf(model.gguf[variant])
        expected = "FP32" if variant == "F32" else variant
        assert (info.quantization.name, info.quantization.guessed) == (expected, False)
        mix = info.tensor_types()
        assert sum(s["tensors"] for s in mix.values()) == 21
        assert sum(s["elements"] for s in mix.values()) == 1_705_216
        assert (list(mix)[0], mix.get("F32", {}).get("tensors")) == (
            {"F32": "F32", "Q4_K_M": "Q4_K"}.get(variant, variant),
            21 if variant == "F32" else 5,  # the norms stay F32
        )


@pytest.mark.parametrize("name", ["Q2_0", "IQ2_XXS", "Q2_K_S", "NVFP4"])
def test_types_newer_than_gguf_or_made_only_with_an_imatrix_are_read_and_loaded(
    name: str, demo_models, tmp_path: Path
) -> None:
    """A quick sample of the sweep below: each read from its header, named, and loaded by llama.cpp."""
    path = _make(name, demo_models, tmp_path)
    assert inspect_gguf(path).quantization.name == name
    assert _llama_ftype(path) == FILE_TYPES_BY_NAME[name]
    assert check_local_weights(_submission_for(path)).names == [name]


@pytest.mark.slow
def test_every_file_type_llama_cpp_knows_is_read_named_and_loaded(demo_models, tmp_path: Path) -> None:
    """All of them (about a minute): llama.cpp's loader agrees on the name, and so does a submission."""
    for name in FILE_TYPES.values():
        path = _make("F32" if name == "FP32" else name, demo_models, tmp_path)
        info = inspect_gguf(path)
        assert info.quantization.name == name, name
        assert _llama_ftype(path) == FILE_TYPES_BY_NAME[name], name
        assert check_local_weights(_submission_for(path, name)).problems == [], name


def _without_file_type(source: Path, target: Path) -> Path:
    """``source`` whose general.file_type key is renamed (same length), as files from old converters lack it."""
    data = source.read_bytes()
    assert data.count(b"general.file_type") == 1
    target.write_bytes(data.replace(b"general.file_type", b"general.file_typx"))
    return target


@pytest.mark.parametrize(("variant", "guess"), [("Q4_1", "Q4_1"), ("Q4_K_M", "Q4_K_M"), ("Q8_0", "Q8_0")])
def test_a_file_without_its_file_type_is_named_as_llama_cpp_guesses_it(
    demo_models, tmp_path: Path, variant: str, guess: str
) -> None:
    path = _without_file_type(Path(demo_models[TRAINED].gguf[variant]), tmp_path / "old.gguf")
    found = inspect_gguf(path).quantization
    assert (found.name, found.guessed) == (guess, True)
    assert _llama_ftype(path) == FILE_TYPES_BY_NAME[guess] | GUESSED_BIT
    assert "guessed from its tensor types" in found.describe()


def test_a_removed_tensor_type_is_refused_with_llama_cpps_advice(demo_models, tmp_path: Path) -> None:
    path = tmp_path / "repacked.gguf"
    path.write_bytes(Path(demo_models[TRAINED].gguf["Q8_0"]).read_bytes())
    reader = gguf.GGUFReader(path, "r+")
    reader.tensors[0].field.parts[4][0] = 31  # Q4_0_4_4: llama.cpp repacks at load time now
    reader.data.flush()
    del reader
    with pytest.raises(GGUFError, match=r"type Q4_0_4_4, which llama.cpp has removed; quantize .* again as Q4_0"):
        inspect_gguf(path)


def test_the_quantizer_refuses_what_it_cannot_make(demo_models, tmp_path: Path) -> None:
    with pytest.raises(QuantizeError):
        quantize(Path(demo_models[TRAINED].gguf["F32"]), tmp_path / "x.gguf", "IQ2_XXS", threads=1)


# --- the name a submission gives, against the file --------------------------------------------------


def test_a_name_the_file_contradicts_is_refused_naming_both(demo_models) -> None:
    path = Path(demo_models[TRAINED].gguf["Q4_1"])
    check = check_local_weights(_submission_for(path, "Q4_0"))
    assert [str(p) for p in check.problems] == [
        f"model.local_path: model 'm', quantization Q4_0: the submission says Q4_0, but {path.name} is Q4_1 "
        "(tensor types: Q4_1 x15, Q6_K x1, F32 x5); set name: Q4_1, or leave name out to take it from the file"
    ]
    with pytest.raises(VariantError, match="the submission says Q4_0, but demo-trained-Q4_1.gguf is Q4_1"):
        resolve_variants(_submission_for(path, "Q4_0"))


def test_a_left_out_name_is_read_from_the_file_and_the_mix_travels_with_the_variant(demo_models) -> None:
    (variant,) = resolve_variants(_submission_for(Path(demo_models[TRAINED].gguf["Q5_1"])))
    assert (variant.variant_id, variant.quantization, variant.backend) == ("m--Q5_1", "Q5_1", "llamacpp")
    mix = __import__("json").loads(variant.tensor_types)
    assert {k: v["tensors"] for k, v in mix.items()} == {"Q5_1": 15, "Q6_K": 1, "F32": 5}
    # an alias names the same type
    assert resolve_variants(_submission_for(Path(demo_models[TRAINED].gguf["Q4_K_M"]), "q4_k"))[0].quantization == (
        "Q4_K_M"
    )


def test_a_fixture_s_named_gguf_file_is_checked_against_the_declared_name(demo_models) -> None:
    from contracts.submission import parse_submission
    from evals.models.variants import VariantError, resolve_variants

    def fixture(quant: str) -> object:
        return parse_submission(
            'model:\n  name: "m"\n  local_path: "fixture://demo-trained"\n  parameters: "1.7M"\n'
            f"  quantizations:\n    - {quant}\n"
        )

    with pytest.raises(VariantError, match="says Q8_0, but demo-trained-Q5_1.gguf is Q5_1"):
        resolve_variants(fixture("{name: Q8_0, format: gguf, gguf_file: demo-trained-Q5_1.gguf}"))
    (agreed,) = resolve_variants(fixture("{name: Q5_1, format: gguf, gguf_file: demo-trained-Q5_1.gguf}"))
    assert agreed.quantization == "Q5_1"

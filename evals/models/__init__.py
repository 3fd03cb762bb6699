"""Weights: a submission's variants located on disk, as a fixture or on the hub, GGUF files checked before anything loads them, and the demo fixtures the project builds.

Public: variants.resolve_variants, variants.Variant, gguf_files.inspect_gguf, hub_access.hub_problems, fixtures.build_all.
"""

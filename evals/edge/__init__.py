"""Edge measurement: throughput, latency and memory of a loaded model, figures reused across runs, and the reference bounds (reference.yaml).

Public: measurement.measure_edge, measurement.EdgeReport, reuse.EdgeStore.
"""

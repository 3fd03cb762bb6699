"""The one place that executes model-generated code.

Public: launcher.run_python, launcher.isolation, launcher.require_isolation, launcher.SandboxResult.
"""

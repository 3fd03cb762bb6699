"""ChatOps: GitHub pull-request comments start Prefect deployments, and results go back to the PR.

GitHub webhook -> app (signature, replay, size, JSON) -> events (who, what, which PR)
  -> dispatch (path rules, submission contract, run_deployment) -> audit trail
benchmark / publish flow run ends -> reporting hooks -> PR comment (and merge on publish)

slmbench serve      # the deployments, served on the current Prefect API
slmbench webhook    # the receiver (uvicorn), settings from the environment (see config.py)
"""

"""The task catalog: categories, weights, tasks and suites (catalog.yaml), lm-eval's task index, the checks a planned task must pass, task costs, the offline pack (pack/) and our lm-eval overrides (overrides/).

Public: suites.load_suite, suites.load_catalog, suites.TaskEntry, index.TaskIndex, checks.check_planned_task, costs.estimate, definitions.define_task, pack.build_pack.
"""

"""Planning: work units and the plan, a pure function of its inputs, and the one chain of steps that prepares them.

Public: units.WorkUnit, units.Plan, units.PlanOptions, units.make_plan, units.plan_submission.
"""

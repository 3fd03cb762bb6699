"""The engine: the worker that loads one variant once, one unit's execution (cached or evaluated), the unit cache, document-range shards.

Public: worker.ModelWorker, execution.execute_unit, execution.UnitReport, cache.UnitCache, sharding.merge.
"""

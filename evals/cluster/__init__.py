"""The cluster the engine runs on: Ray actors and their pool, placement of variants in waves, files shipped to other nodes, progress and balance.

Public: pool.WorkerPool, pool.ensure_ray, placement.place, shipping.ship, progress.Progress, balance.balance.
"""

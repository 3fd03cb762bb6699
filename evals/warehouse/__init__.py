"""The results warehouse: versioned Delta tables written with polars.

Layout under one URI (a local folder by default, or any URI deltalake
supports, e.g. ``s3://bucket/slmbench``; credentials come from the usual
environment variables)::

    <uri>/staging/{scores,edge,samples,runs}    what benchmark runs produced
    <uri>/published/{scores,edge,samples,runs,models,leaderboard}

``samples`` (every evaluated item) is partitioned by run: a run's items are
written, merged and read without touching the others'.

Three modules, one role each:

- ``storage``: where a table lives, reading any version, and the one way of
  writing (a merge on the table's keys, retried on commit conflicts);
- ``staging``: a run's frames checked against their contracts, then staged
  (or recorded as failed, with the report beside the run);
- ``publishing``: a staged run merged into the published tables, the
  leaderboard recomputed and versioned, the model registry updated.

Guarantees, and how they are kept:

- **Nothing invalid is written.** Every frame passes its GX suite
  (``contracts.expectations``) first. A run that fails is recorded in
  ``staging/runs`` with status ``failed`` and the failed expectations, and
  the full report is written beside the run (``<runs dir>/<run_id>/``).
- **Atomic, idempotent writes.** Each write is one Delta commit. Rows are
  merged on the table's keys (insert when absent), so writing the same rows
  twice changes nothing and creates no version. A run's ``runs`` rows are
  written last: they are what makes its scores and edge rows count, so a crash
  between two writes leaves rows no reader uses, and a rerun completes them.
- **No lost rows under concurrency.** delta-rs raises ``CommitFailedError``
  when another writer committed first; every write is retried, recomputed from
  the new table state, with jittered backoff.
- **Time travel.** ``storage.read_table`` reads any version,
  ``storage.table_versions`` lists them.
- **Schema evolution.** Contracts only ever gain nullable columns. A merge
  adds a new column to the stored table (``merge_schema``), and reading a
  version written before it shows the column as null.

No Prefect here: ``tasks.staging`` and ``tasks.publishing`` wrap these functions.
"""

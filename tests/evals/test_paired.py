"""From the samples table to item matrices: each variant's items lined up, item sets kept apart."""

from __future__ import annotations

import numpy as np
import polars as pl

from evals.paired import item_matrices, scored_items
from evals.scoring import default_spec, task_rules


def _rows(variant: str, docs: list[int], right: set[int], clusters: dict[int, str], filter_name: str = "none") -> list:
    return [
        {
            "run_id": "r",
            "variant_id": variant,
            "task": "slmb_yesno",
            "subtask": "slmb_yesno",
            "filter": filter_name,
            "doc_id": d,
            "correct": d in right,
            "value": None,  # rows recorded before ``value`` existed: ``correct`` holds it
            "cluster": clusters.get(d),
        }
        for d in docs
    ]


def test_items_line_up_by_document_and_item_sets_stay_apart() -> None:
    clusters = {0: "p", 3: "p", 5: "q", 1: "q"}
    samples = pl.DataFrame(
        _rows("a", [5, 0, 3, 1, 4, 2], {0, 1, 2}, clusters)
        + _rows("b", [0, 1, 2, 3, 4, 5], {3, 4}, clusters)  # the same six documents, in another order
        + _rows("c", [0, 1, 2], {0}, clusters)  # a --limit run: other items, its own matrix
        + _rows("a", [0, 1], {0, 1}, clusters, filter_name="other"),  # not the scored filter
        schema_overrides={"value": pl.Float64, "cluster": pl.String},
    )
    items = scored_items(samples, task_rules(default_spec()))
    matrices = {m.variants: m for m in item_matrices(items)}
    assert set(matrices) == {(("r", "a"), ("r", "b")), (("r", "c"),)}
    pair = matrices[(("r", "a"), ("r", "b"))]
    right = {
        v: {int(d) for d, x in zip(pair.doc_ids, row, strict=True) if x == 1}
        for v, row in zip("ab", pair.values, strict=True)
    }
    assert right == {"a": {0, 1, 2}, "b": {3, 4}}  # every column is one document for both rows
    assert pair.binary and pair.values.shape == (2, 6)
    # documents 0 and 3 share passage p, 1 and 5 passage q, 2 and 4 stand alone: four clusters
    code = dict(zip(pair.doc_ids.tolist(), pair.codes.tolist(), strict=True))
    assert code[0] == code[3] != code[1] == code[5] and len({code[2], code[4], code[0], code[1]}) == 4
    assert pair.n_clusters == 4 and np.all(np.diff(pair.codes) >= 0)  # cluster order: no reordering needed

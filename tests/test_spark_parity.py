"""DuckDB and Spark draw the very same study cohort from the same seed.

Every population test that takes the `engine` fixture already runs on both engines (conftest) and
checks each engine against a pandas reference. What that cannot show is that the two engines give
*identical* seeded results, so a study rerun on the other engine reproduces it: the matched
controls (drawn at random), the balance table, the unmatched counts and the pool sizes. That
whole-step comparison stays here; do not add per-step parity tests (parametrize on `engine`).
"""

from __future__ import annotations

import pandas as pd
import pytest

from crimcareer.study.controls import study_cohort
from reference_cohort import matching_violations, random_population, registers

pytestmark = pytest.mark.spark


def test_cohort_and_controls_spark_equals_duckdb(duckdb_engine, spark_engine, spec):
    frames = random_population(300, seed=11)
    results = {e.kind: study_cohort(registers(e, frames), spec, e)
               for e in (duckdb_engine, spark_engine)}
    duck, spark = results["duckdb"], results["spark"]
    assert len(duck.frame) > 20 and (duck.frame.group == "NC").sum() > 5
    pd.testing.assert_frame_equal(spark.frame, duck.frame)
    pd.testing.assert_frame_equal(spark.balance, duck.balance, check_exact=False, rtol=1e-9)
    assert spark.unmatched == duck.unmatched and spark.pool_sizes == duck.pool_sizes
    assert matching_violations(spark.frame, frames, spec) == []

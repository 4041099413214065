"""DuckDB and Spark give identical study tables (cohort and matched controls).

The module opens one local Spark session (plus one DuckDB engine) and shares them through the
``both_engines`` fixture; further steps (factors, careers) add a test here as

    def test_my_step_spark_equals_duckdb(both_engines):
        duck, spark = both_engines
        ...

Each Spark query costs a second or more, so keep the crafted populations small.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (install the 'spark' extra)")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from crimcareer.engine import Engine  # noqa: E402
from crimcareer.study.controls import study_cohort  # noqa: E402
from crimcareer.study.spec import default_spec_path, load_spec  # noqa: E402
from reference_cohort import matching_violations, random_population, registers  # noqa: E402

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def both_engines(spark_engine):
    """(duckdb, spark) engines; the Spark session is shared by the whole test run (conftest)."""
    duck = Engine("duckdb")
    yield duck, spark_engine
    duck.close()


def test_cohort_and_controls_spark_equals_duckdb(both_engines, spec):
    frames = random_population(300, seed=11)
    results = {e.kind: study_cohort(registers(e, frames), spec, e) for e in both_engines}
    duck, spark = results["duckdb"], results["spark"]
    assert len(duck.frame) > 20 and (duck.frame.group == "NC").sum() > 5
    pd.testing.assert_frame_equal(spark.frame, duck.frame)
    pd.testing.assert_frame_equal(spark.balance, duck.balance, check_exact=False, rtol=1e-9)
    assert spark.unmatched == duck.unmatched and spark.pool_sizes == duck.pool_sizes
    assert matching_violations(spark.frame, frames, spec) == []

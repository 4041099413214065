"""DuckDB and Spark give the same person features frame (careers, factors, network)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark not installed (install the spark extra)")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from crimcareer.engine import Engine  # noqa: E402
from crimcareer.study.factors import person_features  # noqa: E402
from crimcareer.study.spec import default_spec_path, load_spec  # noqa: E402
from reference_features import (assert_frames_match, engine_cohort, engine_registers,  # noqa: E402
                                random_population, reference_features)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark(spark_engine):
    """The Spark engine shared by the whole test run (conftest)."""
    return spark_engine


@pytest.fixture(scope="module")
def duck():
    e = Engine("duckdb")
    yield e
    e.close()


def _features(engine, cohort, tables, cutoff, spec) -> pd.DataFrame:
    reg = engine_registers(engine, tables, cutoff)
    return person_features(reg, engine_cohort(engine, cohort), spec, engine)


def test_person_features_spark_equals_duckdb(spark, duck):
    spec = load_spec(default_spec_path())
    # One small random population: ties starting on/after index dates, cases on index dates,
    # 29 February births, uncounted outcomes, two absent layers (school, work -> null).
    cohort, tables, cutoff = random_population(11, n_persons=160, n_cohort=45,
                                               layers=("family", "household", "neighbours"))
    got_spark = _features(spark, cohort, tables, cutoff, spec)
    got_duck = _features(duck, cohort, tables, cutoff, spec)
    assert list(got_spark.columns) == list(got_duck.columns)
    assert_frames_match(got_spark, got_duck)
    assert_frames_match(got_spark, reference_features(cohort, tables, cutoff))
    assert got_spark["criminal_school"].isna().all() and got_spark["criminal_family"].any()

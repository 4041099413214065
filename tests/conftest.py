"""Shared fixtures: one local Spark session for the whole test run (it takes seconds to start)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test helpers (reference_*.py, small_registers.py)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# validation certificates of test folders go to a private cache, never the user's
os.environ["CRIMCAREER_CACHE"] = __import__("tempfile").mkdtemp(prefix="crimcareer-cache-")


@pytest.fixture(scope="session")
def spark_engine():
    """A local Spark engine shared by every Spark parity test; skips when Spark cannot start."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (install the 'spark' extra)")
    from pyspark.sql import SparkSession

    from crimcareer.engine import Engine

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    try:
        engine = Engine("spark")
    except Exception as exc:  # no Java, or no local Spark
        pytest.skip(f"cannot start a local Spark session: {exc}")
    engine.session.conf.set("spark.sql.shuffle.partitions", "2")  # tiny data: fewer tasks
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def default_population(tmp_path_factory) -> Path:
    """The default synthetic population (1M persons, seed 1: what `make demo` studies), generated
    once per test run and shared by the calibration, trajectory and end-to-end tests."""
    from crimcareer.synth import generate

    out = tmp_path_factory.mktemp("default") / "pop"
    generate(out, persons=1_000_000, seed=1)
    return out


@pytest.fixture(scope="session")
def flagship(tmp_path_factory, default_population):
    """The flagship study on the default population (1M persons, seed 1), as `make demo` runs it.
    (The offender profile is the same at every size from about 160k persons up: targets are a
    thinning of one fixed risk; see docs/synthetic.md.)"""
    from crimcareer.study.run import run_study
    from crimcareer.study.spec import default_spec_path, load_spec

    out = tmp_path_factory.mktemp("flagship") / "out"
    result = run_study(load_spec(default_spec_path()), default_population / "registers", out,
                       truth_dir=default_population / "truth")
    return out, result


ENGINES = [pytest.param("duckdb", id="duckdb"),
           pytest.param("spark", id="spark", marks=pytest.mark.spark)]


def pytest_runtest_setup(item):
    """`@pytest.mark.duckdb_only(reason=...)` skips a test's Spark case (before Spark starts)."""
    mark = item.get_closest_marker("duckdb_only")
    callspec = getattr(item, "callspec", None)
    if mark is not None and callspec is not None and callspec.params.get("engine") == "spark":
        pytest.skip(f"DuckDB only: {mark.kwargs['reason']}")


@pytest.fixture(scope="module", params=ENGINES)
def engine(request):
    """The engine a population test runs on: once on DuckDB (one per module) and once on Spark
    (the session-wide `spark_engine`; skipped when Spark cannot start, deselected by
    ``-m "not spark"``). A test that is DuckDB-only by nature takes `duckdb_engine` instead; one
    whose Spark case would repeat engine work tested elsewhere at a high cost is marked
    ``duckdb_only(reason=...)``."""
    if request.param == "spark":
        spark = request.getfixturevalue("spark_engine")
        yield spark
        spark.session.catalog.clearCache()  # this module's materialized tables
        return
    from crimcareer.engine import Engine

    e = Engine("duckdb")
    yield e
    e.close()


@pytest.fixture(scope="module")
def duckdb_engine():
    """A DuckDB engine per test module, for tests that are DuckDB-only by nature (DuckDB file
    reading and staging, memory settings): each such test says why in a comment."""
    from crimcareer.engine import Engine

    e = Engine("duckdb")
    yield e
    e.close()


@pytest.fixture(scope="module")
def spec():
    """The flagship study spec."""
    from crimcareer.study.spec import default_spec_path, load_spec

    return load_spec(default_spec_path())


@pytest.fixture()
def acro_session():
    """An ACRO session with suppression on (ACRO's log output silenced), for parity tests."""
    import logging
    import warnings

    acro = pytest.importorskip("acro")
    logging.disable(logging.CRITICAL)
    warnings.filterwarnings("ignore")
    try:
        yield acro.ACRO(suppress=True)
    finally:
        logging.disable(logging.NOTSET)

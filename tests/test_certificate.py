"""Validation certificates (issue 14): `crimcareer validate` vouches for a folder's exact files;
`run` trusts a matching certificate and validates anything else."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from crimcareer.adapters.files import load_registers
from crimcareer.certificate import certificate_path, trusted_certificate
from crimcareer.cli import app
from crimcareer.engine import Engine
from crimcareer.validation import ContractError


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    from crimcareer.synth import generate

    out = tmp_path_factory.mktemp("cert") / "pop"
    generate(out, persons=3_000, seed=2)
    return out / "registers"


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _validation(folder, **kw) -> str:
    with Engine("duckdb", threads=1) as e:
        return load_registers(folder, e, **kw).validation


def test_validate_certifies_and_run_trusts_it(population, tmp_path):
    folder = _copy(population, tmp_path / "regs")
    assert trusted_certificate(folder) is None
    assert _validation(folder) == "full"
    r = CliRunner().invoke(app, ["validate", str(folder)])
    assert r.exit_code == 0, r.output
    assert "certificate:" in r.output and certificate_path(folder).exists()
    assert trusted_certificate(folder) is not None
    assert _validation(folder) == "certificate"
    assert _validation(folder, trust_certificate=False) == "full"
    assert _validation(folder, mode="repair") == "full"  # repair always reads every row


def test_a_changed_file_voids_the_certificate(population, tmp_path):
    folder = _copy(population, tmp_path / "regs")
    assert CliRunner().invoke(app, ["validate", str(folder)]).exit_code == 0
    # duplicate one person: a contract violation the certificate must not hide
    persons = pq.read_table(folder / "persons.parquet")
    pq.write_table(pa.concat_tables([persons, persons.slice(0, 1)]), folder / "persons.parquet")
    assert trusted_certificate(folder) is None
    with pytest.raises(ContractError, match="duplicate"):
        _validation(folder)
    r = CliRunner().invoke(app, ["validate", str(folder)])
    assert r.exit_code == 1 and not certificate_path(folder).exists()


def test_csv_folders_get_no_certificate(population, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    for p in population.glob("*.parquet"):
        pq.read_table(p).to_pandas().to_csv(folder / f"{p.stem}.csv", index=False)
    shutil.copy(population / "meta.json", folder / "meta.json")
    r = CliRunner().invoke(app, ["validate", str(folder)])
    assert r.exit_code == 0, r.output
    assert "certificate:" not in r.output and trusted_certificate(folder) is None

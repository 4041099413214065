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


def test_validation_alongside_refuses_what_validation_first_refuses(population, tmp_path):
    """Strict parquet folders are validated in a thread beside the study (issue 14): an invalid
    folder must still be refused with the validation's message and exit code, and release
    nothing, whether or not the study itself trips over the bad rows first."""
    from crimcareer.validation import in_place_parquet

    folder = _copy(population, tmp_path / "regs")
    assert in_place_parquet(folder)
    rel = pq.read_table(folder / "relations.parquet")
    # a relation ending before it starts: the study would not notice, only the rules do
    ends = rel.column("end_date").to_pylist()
    starts = rel.column("start_date").to_pylist()
    i = next(j for j, s in enumerate(starts) if s is not None and s.year > 1950)
    ends[i] = starts[i].replace(year=starts[i].year - 1)
    rel = rel.set_column(rel.schema.get_field_index("end_date"), "end_date",
                         pa.array(ends, type=rel.schema.field("end_date").type))
    pq.write_table(rel, folder / "relations.parquet")
    with Engine("duckdb", threads=1) as e:
        reg = load_registers(folder, e, alongside=True)
        assert reg.pending is not None
        with pytest.raises(ContractError, match="relations.end_date"):
            reg.pending.wait()
    out = tmp_path / "OUT"
    r = CliRunner().invoke(app, ["run", "studies/brede-blik.toml", "--data", str(folder),
                                 "--out", str(out)])
    assert r.exit_code == 1 and "end_date" in r.output and "Traceback" not in r.output, r.output
    assert not out.exists()
    # with a memory limit the validation comes first (one engine under the limit)
    with Engine("duckdb", threads=1) as e:
        with pytest.raises(ContractError, match="relations.end_date"):
            load_registers(folder, e, alongside=False)


def test_validation_alongside_on_a_valid_folder(population, tmp_path):
    out = tmp_path / "OUT"
    r = CliRunner().invoke(app, ["run", "studies/brede-blik.toml", "--data", str(population),
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    import json

    run = json.loads((out / "manifest.json").read_text())["run"]
    assert run["validation"] == "full, alongside the study"
    assert float(run["validation_seconds"]) > 0
    assert "validation (ran alongside, waited for)" in run["step_seconds"]

"""Risk factors and criminal network (study/factors.py, study/network.py) vs the pandas reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crimcareer.disclosure import Gate, Rules
from crimcareer.engine import Engine
from crimcareer.study.factors import factors_section, person_features, risk_factors
from crimcareer.study.network import criminal_alter_ties, criminal_network, criminal_ties
from crimcareer.study.spec import default_spec_path, load_spec
from reference_features import (CRAFTED_CUTOFF, assert_frames_match, crafted_population,
                                engine_cohort, engine_registers, random_population,
                                reference_features)


@pytest.fixture(scope="module")
def crafted(engine, spec):
    cohort, tables = crafted_population()
    reg = engine_registers(engine, tables, CRAFTED_CUTOFF)
    got = person_features(reg, engine_cohort(engine, cohort), spec, engine)
    return cohort, tables, got


def test_person_features_match_reference(crafted):
    cohort, tables, got = crafted
    assert_frames_match(got, reference_features(cohort, tables, CRAFTED_CUTOFF))
    assert len(got) == len(cohort) and got["person_id"].is_unique


def test_family_exclusions(crafted):
    got = crafted[2].set_index("person_id")
    # D1: parent with an earlier case counts; sibling's case after the index date does not;
    # half-sibling's acquittal does not; partner tie begun after the index date does not;
    # ex-partner (tie ended before the index date) counts.
    assert got.loc["D1", "criminal_parent"]
    assert not got.loc["D1", "criminal_sibling"]
    assert not got.loc["D1", "criminal_half_sibling"]
    assert got.loc["D1", "criminal_partner"]  # through the ex-partner X2 only
    assert got.loc["D1", "criminal_family"]
    # D2: sibling's technical dismissal does not count; partner (start null) with earlier case does
    assert not got.loc["D2", "criminal_sibling"] and got.loc["D2", "criminal_partner"]
    # C1: tie begun on the index date itself counts
    assert got.loc["C1", "criminal_sibling"]
    # N2: parent counts, sibling's case on the index date itself does not
    assert got.loc["N2", "criminal_parent"] and not got.loc["N2", "criminal_sibling"]
    assert not got.loc["N1", "criminal_family"]


def test_partner_begun_after_index_alone_is_not_counted(engine, spec):
    cohort, tables = crafted_population()
    # drop the ex-partner: only the partnership begun after the index date is left
    tables["relations"] = tables["relations"][tables["relations"]["alter_id"] != "X2"]
    reg = engine_registers(engine, tables, CRAFTED_CUTOFF)
    got = engine.to_pandas(risk_factors(reg, engine_cohort(engine, cohort), spec))
    assert not got.set_index("person_id").loc["D1", "criminal_partner"]


def test_education_household_youth_care(crafted):
    got = crafted[2].set_index("person_id")
    assert got.loc["D1", "skq_by_23"]               # mbo2 at 18
    assert not got.loc["D2", "skq_by_23"]           # havo on the 23rd birthday, vmbo not a skq
    assert got.loc["N1", "skq_by_23"]               # wo the day before the 23rd birthday
    assert not got.loc["C1", "skq_by_23"]           # mbo1 not a skq
    assert not got.loc["D3", "skq_observable"] and pd.isna(got.loc["D3", "skq_by_23"])
    assert not got.loc["D1", "single_parent_childhood"]  # spell starts at 18
    assert got.loc["D2", "single_parent_childhood"]      # 27 Feb, the day before the 18th
    assert not got.loc["D3", "single_parent_childhood"]  # spell starts on the 18th birthday
    assert not got.loc["D2", "youth_care_childhood"]     # 1 March: 18th birthday of 29 Feb
    assert not got.loc["C1", "single_parent_childhood"]  # role parent
    assert got.loc["D1", "youth_care_childhood"] and not got.loc["C1", "youth_care_childhood"]


def test_background_and_network(crafted):
    got = crafted[2].set_index("person_id")
    assert got.loc["D1", "migration_any"] and got.loc["D1", "origin_big4"] and got.loc["D1", "male"]
    assert pd.isna(got.loc["C2", "migration_any"]) and pd.isna(got.loc["C2", "origin_big4"])
    assert not got.loc["C1", "origin_big4"]  # other_western
    assert got.loc["D1", "criminal_household"]
    assert not got.loc["D1", "criminal_neighbours"]  # tie began after the index date
    assert got["criminal_school"].isna().all() and got["criminal_work"].isna().all()


def test_absent_optional_tables_give_null(engine, spec):
    cohort, tables = crafted_population()
    for name in ("education", "households", "youth_care"):
        tables.pop(name)
    reg = engine_registers(engine, tables, CRAFTED_CUTOFF)
    got = engine.to_pandas(risk_factors(reg, engine_cohort(engine, cohort), spec))
    for col in ("skq_by_23", "single_parent_childhood", "youth_care_childhood"):
        assert got[col].isna().all(), col
    assert got["skq_observable"].notna().all()
    assert got["criminal_family"].any()


@pytest.mark.parametrize("seed", [0, 1, pytest.param(3, marks=pytest.mark.duckdb_only(
    # seed 3 has seed 0's layers: on Spark (~20 s each) seeds 0 and 1 cover both layer sets
    reason="seeds 0 and 1 cover both layer sets on Spark"))])
def test_random_population_matches_reference(engine, spec, seed):
    layers = ("family", "household", "school") if seed % 2 == 0 else ("family", "work")
    cohort, tables, cutoff = random_population(seed, layers=layers)
    reg = engine_registers(engine, tables, cutoff)
    got = person_features(reg, engine_cohort(engine, cohort), spec, engine)
    ref = reference_features(cohort, tables, cutoff)
    assert_frames_match(got, ref)
    assert ref["criminal_family"].any() and not ref["criminal_family"].all()
    assert ref["skq_by_23"].isna().any() and ref["skq_by_23"].eq(True).any()


def test_network_layers_absent_are_null(engine, spec):
    cohort, tables, cutoff = random_population(1, layers=("family", "work"))
    reg = engine_registers(engine, tables, cutoff)
    got = engine.to_pandas(criminal_network(reg, engine_cohort(engine, cohort), spec))
    assert got["criminal_household"].isna().all() and got["criminal_school"].isna().all()
    assert got["criminal_work"].notna().all() and got["criminal_work"].any()


def _factor_features(n: int, seed: int = 0) -> pd.DataFrame:
    """Planted shares per group: DSE high, CC middle, NC low."""
    rng = np.random.default_rng(seed)
    p = {"DSE": 0.8, "CC": 0.5, "NC": 0.2}
    rows = []
    for g in ("DSE", "CC", "NC"):
        for i in range(n):
            r = {"person_id": f"{g}{i}", "group": g, "age_at_index": int(rng.integers(18, 40))}
            for v in ("criminal_family", "criminal_parent", "criminal_sibling",
                      "criminal_half_sibling", "criminal_partner", "single_parent_childhood",
                      "youth_care_childhood", "migration_any", "origin_big4", "male"):
                r[v] = bool(rng.random() < p[g])
            r["skq_observable"] = bool(rng.random() > 0.1)
            r["skq_by_23"] = bool(rng.random() < 1 - p[g]) if r["skq_observable"] else None
            r["criminal_household"] = bool(rng.random() < p[g])
            r["criminal_school"] = None
            rows.append(r)
    return pd.DataFrame(rows)


def test_factors_section(tmp_path, spec):
    f = _factor_features(150)
    gate = Gate(Rules())
    sec = factors_section(f[["person_id", "group"]], f, gate, spec, tmp_path)
    assert sec.key == "factors"
    tab = gate.tables["factors_three_group"]
    assert "criminal_school" not in set(tab["variable"])  # all null: not reported
    for g in ("DSE", "CC", "NC"):
        x = f.loc[f["group"] == g, "criminal_family"]
        assert sec.headline["B5"][g] == pytest.approx(x.mean())
        s = f.loc[f["group"] == g, "skq_by_23"].dropna().astype(float)
        assert sec.headline["B6"][g] == pytest.approx(s.mean())
        assert sec.headline["B5_parent"][g] == pytest.approx(
            f.loc[f["group"] == g, "criminal_parent"].mean())
    assert {"B5", "B6", "B10", "B11", "B13"} <= set(sec.headline)
    nobs = gate.tables["factors_skq_not_observable"].set_index("group")
    assert nobs.loc["DSE", "n"] == (~f.loc[f["group"] == "DSE", "skq_observable"]).sum()
    assert nobs.loc["DSE", "N"] == 150
    assert (tmp_path / sec.figures[0].file).exists()
    assert (tmp_path / "figures" / "risk_factors_nl.svg").exists()
    assert "Criminele ouder" in (tmp_path / "figures" / "risk_factors_nl.svg").read_text()
    assert gate.records["risk_factors"].kind == "figure"
    assert len(gate.tables["factors_logit_vs_cc"]) > 0
    ors = gate.tables["factors_odds_ratios"]
    fam = ors[(ors["variable"] == "criminal_family") & (ors["comparison"] == "DSE vs NC")].iloc[0]
    assert fam["odds_ratio"] > 4  # planted (0.8/0.2)/(0.2/0.8) = 16


def test_factors_section_small_cells_suppressed(tmp_path, spec):
    f = _factor_features(150)
    # a rare trait: 3 DSE persons with a criminal half-sibling
    f["criminal_half_sibling"] = False
    f.loc[f.index[:3], "criminal_half_sibling"] = True
    gate = Gate(Rules())
    sec = factors_section(f[["person_id", "group"]], f, gate, spec, tmp_path)
    assert sec.headline["B5_half_sibling"]["DSE"] is None
    tab = gate.tables["factors_three_group"]
    hs = tab[tab["variable"] == "criminal_half_sibling"]
    assert hs["p_value"].isna().all()  # the test over groups is blanked with the cell
    assert hs["n"].isna().iloc[0]


def test_both_sections_on_one_gate_pass_the_audit(tmp_path, spec):
    import warnings

    from crimcareer.disclosure import audit_output
    from crimcareer.study.careers import careers_section

    f = _factor_features(60, seed=4)
    rng = np.random.default_rng(4)
    f["n_prior_cases"] = rng.poisson(3, len(f))
    f["first_trafficking_young"] = np.where(f["group"] == "DSE", rng.random(len(f)) < 0.5, None)
    f["repeat_trafficking"] = (f["group"] == "DSE") & (rng.random(len(f)) < 0.3)
    f["before_property"] = rng.poisson(1, len(f))
    f["after_property"] = rng.poisson(1, len(f))
    gate = Gate(Rules())
    cohort = f[["person_id", "group"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a rejected declared relation warns
        s1 = careers_section(cohort, f, gate, spec, tmp_path)
        s2 = factors_section(cohort, f, gate, spec, tmp_path)
    gate.write(tmp_path)
    assert audit_output(tmp_path) == []
    for name in s1.tables + s2.tables:
        assert (tmp_path / "tables" / f"{name}.csv").exists()
    male = gate.tables["factors_three_group"].set_index(["variable", "group"]).loc[("male", "DSE")]
    assert s1.headline["B7"]["DSE"] == pytest.approx(male["pct"] / 100)


@pytest.mark.parametrize("source", ["crafted", 0, 1])
def test_features_from_ties_read_with_other_egos_match_reference(engine, spec, source):
    """A run reads the cohort's ties in the youth profile's pass over the relations
    (criminal_alter_ties of the cohort and other egos, every date, alters with a counted case
    only): the features are still the reference's, on the crafted edge cases (a tie begun and
    an alter's case on the index date itself) and on random populations."""
    if source == "crafted":
        (cohort, tables), cutoff = crafted_population(), CRAFTED_CUTOFF
    else:
        layers = ("family", "household", "school") if source % 2 == 0 else ("family", "work")
        cohort, tables, cutoff = random_population(source, layers=layers)
    reg = engine_registers(engine, tables, cutoff)
    coh = engine_cohort(engine, cohort)
    have = [lay for lay in spec.factors.network_layers if lay in reg.layers()]
    others = reg.persons.order_by("person_id").limit(40)
    ties = engine.materialize(criminal_alter_ties(reg, spec, [others, coh], have))
    got = person_features(reg, coh, spec, engine, alter_ties=ties)
    assert_frames_match(got, reference_features(cohort, tables, cutoff))
    # the shared table leaves out the ties to alters without a counted case
    n_cohort_ties = engine.to_pandas(criminal_ties(reg, coh, spec, have)).shape[0]
    n_shared = engine.to_pandas(criminal_ties(reg, coh, spec, have, alter_ties=ties)).shape[0]
    assert n_shared <= n_cohort_ties and (source == "crafted" or n_shared < n_cohort_ties)

"""Orchestration: generate the population chunk by chunk and stream contract tables to parquet.

Each chunk (up to CHUNK persons, whole families) has its own random stream derived from (seed,
chunk number), so output is byte-identical for the same N and seed. The target group is planted at
a rate relative to N: each chunk expects offenders * chunk_size / N target offenders.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crimcareer import contract
from crimcareer.synth import careers as cr
from crimcareer.synth.dates import NA, day
from crimcareer.synth.family import (LEVELS, REL_LAYER, REL_NAMES, Edges, _exit, childhood,
                                     education, family_edges, youth_care)
from crimcareer.synth.households import household_spells
from crimcareer.synth.network import network_edges
from crimcareer.synth.params import CATEGORIES, GROUPS, ORIGINS, default_params
from crimcareer.synth.population import build_population

CHUNK = 500_000
ID_WIDTH = 9
MIG_NAMES = ("none", "first_generation", "second_generation")
ROUTE_NAMES = (None, "early_starter", "atypical")

_S, _D = pa.string(), pa.date32()
SCHEMAS = {
    "persons": pa.schema([("person_id", _S), ("birth_date", _D), ("sex", _S),
                          ("migration_background", _S), ("origin_group", _S),
                          ("death_date", _D), ("emigration_date", _D)]),
    "relations": pa.schema([("person_id", _S), ("alter_id", _S), ("relation", _S),
                            ("layer", _S), ("start_date", _D), ("end_date", _D)]),
    "cases": pa.schema([("case_id", _S), ("person_id", _S), ("offence_date", _D),
                        ("registration_date", _D), ("disposal_date", _D), ("article", _S),
                        ("offence_category", _S), ("domestic", pa.bool_()), ("outcome", _S),
                        ("severity_max_years", pa.float64())]),
    "education": pa.schema([("person_id", _S), ("diploma_date", _D), ("level", _S)]),
    "households": pa.schema([("person_id", _S), ("household_id", _S), ("start_date", _D),
                             ("end_date", _D), ("household_type", _S), ("role", _S)]),
    "youth_care": pa.schema([("person_id", _S), ("start_date", _D), ("end_date", _D),
                             ("measure", _S)]),
    "detentions": pa.schema([("person_id", _S), ("start_date", _D), ("end_date", _D)]),
    "probation_advice": pa.schema([("case_id", _S), ("person_id", _S), ("requested_date", _D),
                                   ("delivered_date", _D), ("advice", _S)]),
}
TRUTH_SCHEMA = pa.schema([("person_id", _S), ("propensity", pa.float64()),
                          ("trajectory_group", _S), ("route", _S), ("is_target", pa.bool_()),
                          ("p_target", pa.float64())])


def _ids(values: np.ndarray, width: int = ID_WIDTH) -> pa.Array:
    """Zero-padded decimal id strings, built in Arrow's C++ kernels (no Python objects)."""
    s = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    return pc.utf8_lpad(s, width=width, padding="0")


def _codes(idx: np.ndarray, names: tuple | list, mask: np.ndarray | None = None) -> pa.Array:
    d = pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(idx, dtype=np.int32), mask=mask), pa.array(list(names), _S))
    return d.cast(_S)


def _dates(days: np.ndarray) -> pa.Array:
    v = np.asarray(days, dtype=np.int64)
    m = v == NA
    return pa.array(np.where(m, 0, v).astype(np.int32), type=pa.int32(), mask=m).cast(_D)


class _Writers:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.w: dict[str, pq.ParquetWriter] = {}

    def write(self, name: str, table: pa.Table, schema: pa.Schema) -> None:
        if name not in self.w:
            self.w[name] = pq.ParquetWriter(self.folder / f"{name}.parquet", schema,
                                            compression="snappy")
        self.w[name].write_table(table.cast(schema), row_group_size=1_000_000)

    def close(self) -> None:
        for w in self.w.values():
            w.close()


def generate(out: str | Path, persons: int = 1_000_000, seed: int = 1, offenders: int = 630,
             network_density: float = 1.0, progress: bool = False,
             params: dict | None = None) -> None:
    """Write a synthetic population: out/registers (contract tables, meta.json), out/truth."""
    P = default_params() if params is None else params
    out = Path(out)
    reg_dir, truth_dir = out / "registers", out / "truth"
    reg_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    n_chunks = max(1, -(-persons // CHUNK))
    sizes = [persons // n_chunks + (1 if i < persons % n_chunks else 0) for i in range(n_chunks)]
    writers, twriters = _Writers(reg_dir), _Writers(truth_dir)
    person_off, case_off = 0, 0
    stats: dict = {"chunks": [], "group_counts": np.zeros(5, np.int64),
                   "target_group_counts": {r: np.zeros(5, np.int64) for r in ROUTE_NAMES[1:]},
                   "targets": 0, "cases": 0}
    t0 = time.time()
    try:
        for ci, size in enumerate(sizes):
            rng = np.random.default_rng([seed, ci])
            expected = offenders * size / persons
            info = _chunk(rng, P, size, expected, network_density, person_off, case_off, ci,
                          writers, twriters, stats)
            person_off += size
            case_off += info["n_cases"]
            stats["chunks"].append(info)
            if progress:
                print(f"synth: chunk {ci + 1}/{n_chunks}: {person_off:,} persons, "
                      f"{case_off:,} cases, {time.time() - t0:.1f}s", file=sys.stderr)
    finally:
        writers.close()
        twriters.close()
    created = (dt.datetime(2024, 1, 1) + dt.timedelta(seconds=int(seed) % 86_400 * 60)).isoformat()
    meta = {"cutoff": P["cutoff"], "source": "crimcareer synthetic", "created": created,
            "persons": persons, "seed": seed}
    (reg_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    if _saturated(stats):
        print(f"synth: note: {offenders:,} offenders in {persons:,} persons is more than the "
              "calibrated target risk gives (about 1 in 250 persons at most); the offender "
              "profile is then less extreme than published (see docs/synthetic.md)",
              file=sys.stderr)
    _write_params(truth_dir, P, stats, persons, seed, offenders, network_density)


def _saturated(stats: dict) -> bool:
    """True when some chunk needed scale 1 (the calibrated risk gave too few offenders)."""
    return any(v >= 1.0 for c in stats["chunks"] for v in c["scales"].values())


def _write_params(truth_dir: Path, P: dict, stats: dict, persons: int, seed: int,
                  offenders: int, network_density: float) -> None:
    gc = stats["group_counts"]
    realised = {
        "group_shares_population": {g: float(c / max(gc.sum(), 1)) for g, c in zip(GROUPS, gc)},
        "targets": int(stats["targets"]),
        "cases": int(stats["cases"]),
    }
    for r, counts in stats["target_group_counts"].items():
        realised[f"group_shares_{r}"] = {g: float(c / max(counts.sum(), 1))
                                         for g, c in zip(GROUPS, counts)}
    allt = sum(stats["target_group_counts"].values())
    realised["group_shares_targets"] = {g: float(c / max(allt.sum(), 1))
                                        for g, c in zip(GROUPS, allt)}
    realised["intercepts"] = [c["intercepts"] for c in stats["chunks"]]
    # thinning scale per chunk and route; 1.0 means saturated (intercept raised, profile shifts)
    realised["target_scales"] = [c["scales"] for c in stats["chunks"]]
    realised["target_profile_saturated"] = _saturated(stats)
    nl = P["netherlands"]
    realised["offender_sampling_factor"] = (offenders / max(persons, 1)) / (
        nl["offenders"] / nl["persons"])
    from crimcareer.synth.params import log_rate_polynomials

    realised["group_log_rate_polynomials"] = log_rate_polynomials(P)
    realised["sibling_propensity_correlation_planted"] = (
        P["propensity"]["parent_transmission_h"] ** 2 * (1 + P["propensity"]["assortative_rho"])
        / 2 + P["propensity"]["sibling_shared_sd"] ** 2)
    doc = {"generator": {"persons": persons, "seed": seed, "offenders": offenders,
                         "network_density": network_density, "chunk_size": CHUNK},
           "planted": P, "realised": realised}
    (truth_dir / "params.json").write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def _chunk(rng, P, n, expected, density, poff, coff, ci, writers, twriters, stats) -> dict:
    cutoff = day(P["cutoff"])
    pop = build_population(rng, n, P)
    ch = childhood(rng, pop)
    group = cr.trajectory_groups(rng, pop, ch, P)
    edu = education(rng, pop, ch, P, group)
    skq23 = edu.skq_by(pop.birth, 23)
    yc_person, yc_start, yc_end, yc_measure = youth_care(rng, pop, ch, P)
    youth = np.zeros(n, bool)
    youth[yc_person] = True
    gen_cases = cr.general_careers(rng, pop, group, P)
    fam = family_edges(pop)
    first = cr.first_counted(n, gen_cases)
    tg = cr.targets(rng, pop, ch, P, fam, first, skq23, youth, expected)
    is_target = tg["route"] != cr.ROUTE_NONE
    tgroup, tcases = cr.target_careers(rng, pop, P, tg)
    group = group.copy()
    group[is_target] = tgroup
    dec = cr.decoys(rng, pop, P, tg, expected)
    keep = ~is_target[gen_cases.person]
    cases = cr.Cases.concat([gen_cases.take(keep), tcases, dec])
    order = np.lexsort((cases.category, cases.offence, cases.person))
    cases = cases.take(order)
    nc = len(cases.person)
    case_num = coff + np.arange(nc)
    pid_all = _ids(poff + np.arange(n, dtype=np.int64))
    # ids are formatted once per chunk and gathered (Arrow take copies bytes, no formatting)
    pid = lambda local: pid_all.take(pa.array(np.asarray(local, dtype=np.int64)))  # noqa: E731

    # persons
    writers.write("persons", pa.table({
        "person_id": pid_all, "birth_date": _dates(pop.birth),
        "sex": _codes(np.where(pop.male, 0, 1), contract.SEX),
        "migration_background": _codes(pop.migbg, MIG_NAMES),
        "origin_group": _codes(pop.origin, ORIGINS),
        "death_date": _dates(pop.death), "emigration_date": _dates(pop.emigration),
    }), SCHEMAS["persons"])
    # relations
    net = network_edges(rng, pop, ch, fam, P, density)
    e = Edges.concat([fam, net])
    ok = (e.start == NA) | (e.start <= cutoff)
    ok &= (e.start == NA) | (e.start >= pop.birth[e.ego])
    end = np.where((e.end != NA) & (e.end > cutoff), NA, e.end)
    ok &= (end == NA) | (e.start == NA) | (end >= e.start)
    ok &= e.ego != e.alter
    idx = np.nonzero(ok)[0]
    layer_idx = np.array([contract.LAYERS.index(layer) for layer in REL_LAYER])
    writers.write("relations", pa.table({
        "person_id": pid(e.ego[idx]), "alter_id": pid(e.alter[idx]),
        "relation": _codes(e.rel[idx], REL_NAMES),
        "layer": _codes(layer_idx[e.rel[idx]], contract.LAYERS),
        "start_date": _dates(e.start[idx]), "end_date": _dates(end[idx]),
    }), SCHEMAS["relations"])
    # cases
    pcs = P["cases"]
    art = [pcs["articles"][c] for c in CATEGORIES]
    sev = np.array([pcs["severity"][c] for c in CATEGORIES])
    writers.write("cases", pa.table({
        "case_id": _ids(case_num, 10), "person_id": pid(cases.person),
        "offence_date": _dates(cases.offence), "registration_date": _dates(cases.registration),
        "disposal_date": _dates(cases.disposal), "article": _codes(cases.category, art),
        "offence_category": _codes(cases.category, CATEGORIES),
        "domestic": pa.array(cases.domestic == 1, mask=cases.domestic < 0),
        "outcome": _codes(cases.outcome, contract.OUTCOMES),
        "severity_max_years": pa.array(sev[cases.category]),
    }), SCHEMAS["cases"])
    # education
    eo = np.lexsort((edu.date, edu.person))
    writers.write("education", pa.table({
        "person_id": pid(edu.person[eo]), "diploma_date": _dates(edu.date[eo]),
        "level": _codes(edu.level[eo], LEVELS),
    }), SCHEMAS["education"])
    # households
    hs = household_spells(pop, ch, P)
    ho = np.lexsort((hs.start, hs.person))
    hh_ids = pc.binary_join_element_wise(pa.scalar(f"h{ci}_"), _ids(hs.household[ho], 1), "")
    writers.write("households", pa.table({
        "person_id": pid(hs.person[ho]), "household_id": hh_ids,
        "start_date": _dates(hs.start[ho]), "end_date": _dates(hs.end[ho]),
        "household_type": _codes(hs.htype[ho], contract.HOUSEHOLD_TYPES),
        "role": _codes(hs.role[ho], contract.HOUSEHOLD_ROLES),
    }), SCHEMAS["households"])
    # youth care (+ youth probation after a juvenile counted case)
    juv = cases.counted & (cases.offence < pop.birth[cases.person] + 18 * 365) & (
        rng.random(nc) < P["youth_care"]["youth_probation_prob"])
    jp, jfirst = np.unique(cases.person[juv], return_index=True)
    jstart = cases.registration[juv][jfirst]
    jend = jstart + 365
    ex = _exit(pop, cutoff)
    jok = jstart < ex[jp]
    jend = np.where(jend >= ex[jp], NA, jend)
    yp = np.r_[yc_person, jp[jok]]
    ys = np.r_[yc_start, jstart[jok]]
    ye = np.r_[yc_end, jend[jok]]
    ym = np.r_[yc_measure, np.full(jok.sum(), contract.YOUTH_CARE_MEASURES.index("youth_probation"))]
    yo = np.lexsort((ys, yp))
    writers.write("youth_care", pa.table({
        "person_id": pid(yp[yo]), "start_date": _dates(ys[yo]), "end_date": _dates(ye[yo]),
        "measure": _codes(ym[yo], contract.YOUTH_CARE_MEASURES),
    }), SCHEMAS["youth_care"])
    # detentions
    dp, dsd, ded = cr.detentions(rng, pop, cases, P)
    do = np.lexsort((dsd, dp))
    writers.write("detentions", pa.table({
        "person_id": pid(dp[do]), "start_date": _dates(dsd[do]), "end_date": _dates(ded[do]),
    }), SCHEMAS["detentions"])
    # probation advice
    pi, prq, pdl, padv = cr.probation(rng, cases, case_num, pop, P)
    writers.write("probation_advice", pa.table({
        "case_id": _ids(case_num[pi], 10), "person_id": pid(cases.person[pi]),
        "requested_date": _dates(prq), "delivered_date": _dates(pdl),
        "advice": pa.array(padv, _S),
    }), SCHEMAS["probation_advice"])
    # truth
    twriters.write("persons_truth", pa.table({
        "person_id": pid_all, "propensity": pa.array(pop.z),
        "trajectory_group": _codes(group, GROUPS),
        "route": _codes(tg["route"], ("", "early_starter", "atypical"),
                        mask=tg["route"] == cr.ROUTE_NONE),
        "is_target": pa.array(is_target), "p_target": pa.array(tg["p_target"]),
    }), TRUTH_SCHEMA)
    stats["group_counts"] += np.bincount(group, minlength=5)
    for r, name in ((cr.ROUTE_EARLY, "early_starter"), (cr.ROUTE_ATYPICAL, "atypical")):
        stats["target_group_counts"][name] += np.bincount(group[tg["route"] == r], minlength=5)
    stats["targets"] += int(is_target.sum())
    stats["cases"] += nc
    return {"n_cases": nc, "intercepts": tg["intercepts"], "scales": tg["scales"],
            "targets": int(is_target.sum())}

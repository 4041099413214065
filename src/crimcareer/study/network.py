"""Criminal alters per network layer (household, neighbours, school, work) and the shared tie logic.

A tie counts when it started on or before the ego's index date (null start: since birth); its end
date is ignored (ex-partners, former neighbours count). An alter is criminal when they have a
counted case with an offence date before the ego's index date. Relations can hold a billion rows:
they are filtered to cohort egos first, and alters' counted cases are reduced to one first offence
date per alter (only for alters of cohort egos) before the join.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from crimcareer.study.careers import cohort_keys, counted_cases
from crimcareer.adapters.files import Registers
from crimcareer.study.spec import StudySpec


def criminal_ties(reg: Registers, cohort_table: ir.Table, spec: StudySpec, layers: list[str],
                  relations: list[str] | None = None, alter_ties: ir.Table | None = None
                  ) -> ir.Table:
    """Counting ties of cohort egos in `layers` (optionally only `relations`) with a `criminal` flag.

    Columns: person_id, alter_id, relation, layer, criminal (bool, never null). `alter_ties`:
    :func:`criminal_alter_ties` of egos including the cohort's, already materialized (no pass
    over the relations here); the ties it leaves out (alters without a counted case) are never
    criminal, so a person's flags are the same.
    """
    coh = cohort_keys(cohort_table).select("person_id", "index_date")
    rel = reg.relations if alter_ties is None else alter_ties
    cond = rel.layer.isin(list(layers))
    if relations is not None:
        cond = cond & rel.relation.isin(list(relations))
    rel = rel.filter(cond)
    if alter_ties is not None:
        ties = rel.select("person_id", "alter_id", "relation", "layer", "alter_first_case",
                          start_date=rel.start_date.cast("date")).join(coh, "person_id")
        ties = ties.filter(ties.start_date.isnull() | (ties.start_date <= ties.index_date))
        return ties.select("person_id", "alter_id", "relation", "layer",
                           criminal=(ties.alter_first_case < ties.index_date).fill_null(False))
    rel = rel.select(
        "person_id", "alter_id", "relation", "layer", start_date=rel.start_date.cast("date"))
    ties = rel.join(coh, "person_id")
    ties = ties.filter(ties.start_date.isnull() | (ties.start_date <= ties.index_date))

    alters = ties.select("alter_id").distinct()
    cases = counted_cases(reg.cases, spec)
    cases = cases.select(alter_id=cases.person_id, offence_date=cases.offence_date.cast("date"))
    cases = cases.join(alters, "alter_id")  # semi-join: alters of cohort egos only
    first = cases.group_by("alter_id").aggregate(first_offence=cases.offence_date.min())

    t = ties.left_join(first, "alter_id").select(ties, first.first_offence)
    return t.select(
        "person_id", "alter_id", "relation", "layer",
        criminal=(t.first_offence < t.index_date).fill_null(False),
    )


def tie_filter(relations: ir.Table, spec: StudySpec, layers: list[str],
               before: ir.Value | None = None) -> ir.Table:
    """Ties in the spec's family relations or in the network ``layers``, started before
    ``before`` if given (ended ties count)."""
    fam = list(spec.factors.family_relations)
    r = relations
    cond = ((r.layer == "family") & r.relation.isin(fam)) | r.layer.isin(layers or ["__none__"])
    if before is not None:
        cond = cond & (r.start_date.isnull() | (r.start_date < before))
    return r.filter(cond)


def criminal_alter_ties(reg: Registers, spec: StudySpec, egos: list[ir.Table],
                        layers: list[str], before: ir.Value | None = None) -> ir.Table:
    """Ties (:func:`tie_filter`) of anyone in ``egos`` (tables with a person_id) to alters with a
    counted case (before ``before`` if given), with the alter's first such offence date
    (alter_first_case): the relations, a billion rows nationally, read once for the cohort's
    factors and the youth profile's dates together."""
    ids = [e.select("person_id") for e in egos]
    who = ibis.union(*ids, distinct=True) if len(ids) > 1 else ids[0].distinct()
    c = counted_cases(reg.cases, spec)
    if before is not None:
        c = c.filter(c.offence_date < before)
    first = c.group_by("person_id").aggregate(alter_first_case=c.offence_date.min())
    first = first.select(alter_id=first.person_id, alter_first_case=first.alter_first_case)
    r = tie_filter(reg.relations, spec, layers, before)
    r = r.semi_join(who, r.person_id == who.person_id)
    j = r.join(first, r.alter_id == first.alter_id)
    return j.select(r.person_id, r.alter_id, r.relation, r.layer, r.start_date,
                    first.alter_first_case)


def present_network_layers(reg: Registers, spec: StudySpec) -> list[str]:
    """The spec's network layers that occur in the relations table, in the spec's order (one
    distinct query per folder, shared by the cohort's network and the youth profile)."""
    # Executed eagerly: the answer (at most five codes) decides which columns are null.
    found = reg.layers()
    return [lay for lay in spec.factors.network_layers if lay in found]


def criminal_network(reg: Registers, cohort_table: ir.Table, spec: StudySpec,
                     alter_ties: ir.Table | None = None) -> ir.Table:
    """criminal_<layer> per cohort person for the spec's network layers (null if layer absent);
    `alter_ties`: as for :func:`criminal_ties`."""
    coh = cohort_keys(cohort_table).select("person_id")
    layers = list(spec.factors.network_layers)
    have = present_network_layers(reg, spec)
    cols: dict[str, ir.Value] = {}
    if have:
        ties = criminal_ties(reg, cohort_table, spec, have, alter_ties=alter_ties)
        agg = ties.group_by("person_id").aggregate(
            **{f"_{lay}": (ties.criminal & (ties.layer == lay)).any() for lay in have})
        t = coh.left_join(agg, "person_id").select(coh, *[agg[f"_{lay}"] for lay in have])
    else:
        t = coh
    for lay in layers:
        if lay in have:
            cols[f"criminal_{lay}"] = t[f"_{lay}"].fill_null(False)
        else:
            cols[f"criminal_{lay}"] = ibis.null().cast("boolean")
    return t.select("person_id", **cols)

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
                  relations: list[str] | None = None) -> ir.Table:
    """Counting ties of cohort egos in `layers` (optionally only `relations`) with a `criminal` flag.

    Columns: person_id, alter_id, relation, layer, criminal (bool, never null).
    """
    coh = cohort_keys(cohort_table).select("person_id", "index_date")
    rel = reg.relations
    cond = rel.layer.isin(list(layers))
    if relations is not None:
        cond = cond & rel.relation.isin(list(relations))
    rel = rel.filter(cond).select(
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


def present_layers(reg: Registers) -> set[str]:
    """The layers that occur in the relations table (one distinct query per folder)."""
    # Executed eagerly: the answer (at most five codes) decides which columns are null.
    return set(reg.layers())


def criminal_network(reg: Registers, cohort_table: ir.Table, spec: StudySpec) -> ir.Table:
    """criminal_<layer> per cohort person for the spec's network layers (null if layer absent)."""
    coh = cohort_keys(cohort_table).select("person_id")
    layers = list(spec.factors.network_layers)
    present = present_layers(reg)
    have = [lay for lay in layers if lay in present]
    cols: dict[str, ir.Value] = {}
    if have:
        ties = criminal_ties(reg, cohort_table, spec, have)
        agg = ties.group_by("person_id").aggregate(
            **{f"_{lay}": (ties.criminal & (ties.layer == lay)).any() for lay in have})
        t = coh.left_join(agg, "person_id").select(coh, *[agg[f"_{lay}"] for lay in have])
    else:
        t = coh
    for lay in layers:
        if lay in present:
            cols[f"criminal_{lay}"] = t[f"_{lay}"].fill_null(False)
        else:
            cols[f"criminal_{lay}"] = ibis.null().cast("boolean")
    return t.select("person_id", **cols)

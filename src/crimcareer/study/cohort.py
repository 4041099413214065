"""The target group: counted cases, target cases and the target cohort (one index case per offender).

All functions take and return Ibis tables, so they run unchanged on DuckDB and Spark over the whole
population. Definitions (issue 3, docs/architecture.md):

- counted case: outcome not in ``spec.cases.not_counted_outcomes``;
- target case: a counted case of a category in ``spec.target.offence_categories``, ``domestic``
  equal to ``spec.target.domestic`` when that is set (a null ``domestic`` never qualifies then),
  registered (``coalesce(registration_date, offence_date)``) within ``spec.target.period``
  (both ends inclusive);
- target cohort: per person the first target case by offence date (ties: smallest ``case_id``);
  its offence date is the index date. The `group` value of these persons is the spec's
  ``target.label`` (its name in the report comes from crimcareer.study.wording).

The matched cohort (``study_cohort``, ``CohortResult``, ``cohort_section``) is built in
study/controls.py, which imports this module (never the other way round).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from crimcareer.adapters.files import Registers
from crimcareer.study.spec import StudySpec



def counted_cases(cases: ir.Table, spec: StudySpec) -> ir.Table:
    """Cases that count towards a criminal career: outcome not in the spec's not-counted outcomes."""
    not_counted = list(spec.cases.not_counted_outcomes)
    if not not_counted:
        return cases
    return cases.filter(~cases.outcome.isin(not_counted))


def registered_on(cases: ir.Table) -> ir.DateValue:
    """The date that places a case in a registration period: registration date, else offence date."""
    return ibis.coalesce(cases.registration_date, cases.offence_date)


def registered_within(cases: ir.Table, period: tuple) -> ir.BooleanValue:
    """True for cases registered (registration date, else offence date) within a closed period."""
    reg = registered_on(cases)
    start, end = period
    return (reg >= ibis.literal(start, type="date")) & (reg <= ibis.literal(end, type="date"))


def target_cases(cases: ir.Table, spec: StudySpec) -> ir.Table:
    """Counted cases of the target categories (and domestic flag) registered within the period."""
    t = counted_cases(cases, spec)
    cond = t.offence_category.isin(list(spec.target.offence_categories))
    if spec.target.domestic is not None:
        # A null `domestic` is unknown and never counts as the required value.
        cond = cond & (t.domestic.fill_null(not spec.target.domestic) == spec.target.domestic)
    return t.filter(cond & registered_within(t, spec.target.period))


def target_cohort(reg: Registers, spec: StudySpec) -> ir.Table:
    """One row per target offender: person_id, index_case_id, index_date (first target case)."""
    t = target_cases(reg.cases, spec)
    # Persons must exist in the persons table (an offender without attributes cannot be matched).
    t = t.semi_join(reg.persons, t.person_id == reg.persons.person_id)
    rn = ibis.row_number().over(group_by=t.person_id, order_by=[t.offence_date, t.case_id])
    first = t.mutate(_rn=rn).filter(lambda x: x._rn == 0)
    return first.select(
        person_id=first.person_id,
        index_case_id=first.case_id,
        index_date=first.offence_date,
    )

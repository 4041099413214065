"""The disclosure gate: rules, membership, audit and suppression (see docs/disclosure.md).

Every output of a study passes :class:`Gate`. The gate knows which persons stand behind every
number it releases (:mod:`.membership`), derives the relations between numbers itself and
audits what an attacker could learn from all of them together (:mod:`.audit`); the release
ledger (:mod:`.ledger`) keeps the released values and the few relations that membership cannot
show (outputs released without their persons). :func:`released_value` reads one number back
from a released table.
"""

from crimcareer.disclosure.gate import (ALL, PERSON_LEVEL_COLUMNS, PROFILES, SUPPRESSED, Breach,
                                        Gate, OutputRecord, PersonLevelError, Rules, audit_output,
                                        category_counts_of, cell_key, frequency_reasons,
                                        magnitude_reason, merged_bins, proportion_reasons, rounded)
from crimcareer.disclosure.released import released_value

__all__ = ["ALL", "PERSON_LEVEL_COLUMNS", "PROFILES", "SUPPRESSED", "Breach", "Gate",
           "OutputRecord", "PersonLevelError", "Rules", "audit_output", "category_counts_of",
           "cell_key", "frequency_reasons", "magnitude_reason", "merged_bins",
           "proportion_reasons", "released_value", "rounded"]

"""The disclosure gate: rules, membership, audit and suppression (see docs/disclosure.md).

Every output of a study passes :class:`Gate`. The gate knows which persons stand behind every
number it releases (:mod:`.membership`), derives the relations between numbers itself and
audits what an attacker could learn from all of them together (:mod:`.audit`); the release
ledger (:mod:`.ledger`) keeps the released values and the few relations that membership cannot
show (outputs released without their persons).
"""

from crimcareer.disclosure.gate import (ALL, LABELS, PERSON_LEVEL_COLUMNS, PROFILES, SUPPRESSED,
                                        Breach, Gate, OutputRecord, PersonLevelError, Rules,
                                        audit_output, category_counts_of, cell_key,
                                        frequency_reasons, magnitude_reason, merged_bins,
                                        proportion_reasons, rounded)

__all__ = ["ALL", "LABELS", "PERSON_LEVEL_COLUMNS", "PROFILES", "SUPPRESSED", "Breach", "Gate",
           "OutputRecord", "PersonLevelError", "Rules", "audit_output", "category_counts_of",
           "cell_key", "frequency_reasons", "magnitude_reason", "merged_bins",
           "proportion_reasons", "rounded"]

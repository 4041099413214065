"""Issue 10, 'done when': the flagship study on a 3,000-person synthetic population exports
nothing from which any attack class of tests/attacks.py recovers a count of 1-9 persons or one
person's value.

The attacker reads only the exported files (tables, figures, report.html, disclosure.json,
results.json), never OUT/internal and never the gate's code. This fails on the gate before the
rewrite of issue 10 (see tests/test_disclosure_attacks_replay.py for what it recovers there).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import attacks  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_flagship(tmp_path_factory) -> Path:
    from crimcareer.study.run import run_study
    from crimcareer.study.spec import default_spec_path, load_spec
    from crimcareer.synth import generate

    root = tmp_path_factory.mktemp("classes")
    generate(root / "pop", persons=3_000, seed=1)
    out = root / "out"
    run_study(load_spec(default_spec_path()), root / "pop" / "registers", out)
    return out


@pytest.fixture(scope="module")
def findings(tiny_flagship) -> dict[int, list]:
    return attacks.attack_all(tiny_flagship)


def test_every_attack_reads_the_export(tiny_flagship, findings):
    """The attacker understands the exported folder (not xfail: an attack that breaks on a changed
    release form must not pass as 'found nothing')."""
    assert (tiny_flagship / "tables").is_dir() and (tiny_flagship / "disclosure.json").exists()
    assert sorted(findings) == sorted(attacks.ATTACKS)
    for klass, fs in findings.items():
        assert isinstance(fs, list) and all(f.klass == klass for f in fs)


@pytest.mark.parametrize("klass", sorted(attacks.ATTACKS))
def test_no_attack_class_recovers_a_small_count(findings, klass):
    assert findings[klass] == [], "\n".join(str(f) for f in findings[klass])


def test_check_redoes_the_membership_audit(tiny_flagship):
    """`crimcareer check` re-audits from OUT/internal: the run passes it."""
    from crimcareer.disclosure import audit_output

    assert (tiny_flagship / "internal" / "disclosure_state.json").exists()
    assert audit_output(tiny_flagship) == []

"""Numeric estimators (matching, survival, profile and trajectory models) on plain arrays and
pandas frames: no engine, no registers, no disclosure, no report (import contract in
pyproject.toml)."""

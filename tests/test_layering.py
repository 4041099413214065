"""Imports run one way (issue 12): no import cycle among crimcareer's modules, counting imports
inside functions and under TYPE_CHECKING, and no module imported by a name computed at run time.
The data-flow contracts themselves are import-linter's (pyproject.toml, `lint-imports`)."""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest

import crimcareer

SRC = Path(crimcareer.__file__).parent


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (each holds a cycle);
    iterative Tarjan, so deep import chains cannot exhaust the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def _describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    edges = []
    for a in cycle:
        for b in cycle:
            if graph.direct_import_exists(importer=a, imported=b):
                lines = sorted({d["line_number"] for d in graph.get_import_details(importer=a,
                                                                                  imported=b)})
                edges.append(f"{a} -> {b} (line {', '.join(map(str, lines))})")
    return "; ".join(edges)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # grimp reads every import statement, also those inside functions and TYPE_CHECKING blocks
    return grimp.build_graph("crimcareer", cache_dir=None)


def test_no_import_cycle_among_crimcareer_modules(graph) -> None:
    cycles = import_cycles(graph)
    assert cycles == [], "\n".join(_describe(graph, c) for c in cycles)


def test_the_cycle_finder_sees_a_function_level_cycle() -> None:
    g = grimp.ImportGraph()
    for m in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        g.add_module(m)
    g.add_import(importer="pkg.a", imported="pkg.b")
    g.add_import(importer="pkg.b", imported="pkg.c")
    g.add_import(importer="pkg.c", imported="pkg.a")  # e.g. `from pkg import a` inside a function
    assert import_cycles(g) == [["pkg.a", "pkg.b", "pkg.c"]]
    g.remove_import(importer="pkg.c", imported="pkg.a")
    assert import_cycles(g) == []


def test_no_module_is_imported_by_name_or_lazily_through_a_module_getattr() -> None:
    by_name = re.compile(r"\bimport_module\(|\b__import__\(|^def __getattr__\(", re.M)
    offenders = [str(p.relative_to(SRC)) for p in sorted(SRC.rglob("*.py"))
                 if by_name.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_study_sections_and_the_report_share_the_label_registry(graph) -> None:
    assert graph.find_modules_that_directly_import("crimcareer.labels") >= {
        "crimcareer.report.html", "crimcareer.study.factors", "crimcareer.study.profile"}
    assert graph.find_modules_directly_imported_by("crimcareer.labels") == set()

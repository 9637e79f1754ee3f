"""The import arrows between the top-level packages (docs/architecture.md): read
from the code's syntax tree, so a forbidden import fails here before it runs."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "application", "adapters", "projections", "workers", "api", "crowdfund")
# What each package may import of ours, besides itself.
ALLOWED = {
    "domain": set(),
    "application": {"domain"},
    "adapters": {"application", "domain"},
    "projections": {"application", "domain"},
    "workers": {"adapters", "projections", "application", "domain"},
    "api": {"projections", "application", "domain"},
    "crowdfund": set(PACKAGES) - {"crowdfund"},
}


def imports(package: str) -> Iterator[tuple[Path, int, str, bool]]:
    """(file, line, imported top-level package of ours, at module level?)"""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                head = name.split(".")[0]
                if head in PACKAGES and head != package:
                    yield path, node.lineno, head, id(node) in top_level


def test_every_import_points_inward() -> None:
    forbidden = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for package in PACKAGES
        for path, line, target, _ in imports(package)
        if target not in ALLOWED[package]
    ]
    assert not forbidden, "\n".join(forbidden)


def test_no_import_hides_inside_a_function() -> None:
    hidden = [
        f"{path.relative_to(ROOT)}:{line} imports {target} inside a function"
        for package in PACKAGES
        for path, line, target, at_top in imports(package)
        if not at_top
    ]
    assert not hidden, "\n".join(hidden)


def test_the_allowed_arrows_have_no_cycle() -> None:
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in ALLOWED[start]
        )

    assert not [p for p in PACKAGES if reaches(p, p)]


def test_the_domain_imports_only_the_standard_library_and_eventsourcing() -> None:
    stdlib = __import__("sys").stdlib_module_names
    outside = []
    for path in sorted((ROOT / "domain").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                and node.level == 0 else []
            )
            for name in names:
                head = name.split(".")[0]
                if head not in stdlib and head not in ("eventsourcing", "domain", "__future__"):
                    outside.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not outside, "\n".join(outside)

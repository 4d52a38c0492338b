"""The shape of the code under services/ and schemas/, as issue 13's "Done when" states it: no import cycle (every
module imports in a fresh interpreter in sorted and in reverse order, and the module-level import graph has no
cycle), every module and public class has a docstring, and no function is longer than 60 lines (from its
``def`` to its last line) unless ``LONG_FUNCTIONS`` names it with the reason. Also the direction of imports
between tests/ and bench/: what both use lives in tests/harness/ (tests never import bench/, bench/ never
imports conftest or a test module).

Reads the source with ``ast``; the only code it runs is the import of every module, in subprocesses.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "schemas")
MAX_FUNCTION_LINES = 60
# "<path>:<qualified name>" -> why it may be longer than MAX_FUNCTION_LINES. Keep it short; every entry is a debt.
LONG_FUNCTIONS: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in SOURCES.items()}
# ``python -m services.<name>`` entry points: importing them runs the service, so they are not imported here
# (their one import, the service module, is).
IMPORTABLE = sorted(name for name in SOURCES if not name.endswith(".__main__"))


def where(name: str) -> str:
    return str(SOURCES[name].relative_to(ROOT))


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_every_module_imports_in_a_fresh_interpreter(order):
    modules = IMPORTABLE if order == "sorted" else IMPORTABLE[::-1]
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", script, *modules], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def module_level_imports(name: str) -> set[str]:
    """The project modules ``name`` imports when it is imported (not those imported inside functions)."""
    package = name if SOURCES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    pending = list(TREES[name].body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # ``from package import module``
        else:
            pending.extend(ast.iter_child_nodes(node))
    return {target for target in found if target in SOURCES and target != name}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def test_the_cycle_finder_names_the_modules_of_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_among_project_modules():
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(SOURCES)))
    graph = {name: module_level_imports(name) for name in SOURCES}
    cycles = import_cycles(graph)
    assert not cycles, "modules that import each other (at module level):\n" + "\n".join(map(" <-> ".join, cycles))


def test_every_module_and_public_class_has_a_docstring():
    missing = [f"{where(name)} (module)" for name, tree in TREES.items() if not ast.get_docstring(tree)]
    missing += [
        f"{where(name)}:{node.lineno} class {node.name}"
        for name, tree in TREES.items()
        for node in tree.body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and not ast.get_docstring(node)
    ]
    assert not missing, "no docstring:\n" + "\n".join(missing)


def functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            qualified = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield qualified, node
            yield from functions(node, f"{qualified}.")
        else:
            yield from functions(node, prefix)


def test_no_function_is_longer_than_60_lines():
    long = {
        f"{where(name)}:{qualified}": node.end_lineno - node.lineno + 1
        for name, tree in TREES.items()
        for qualified, node in functions(tree)
        if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    too_long = [f"{k}: {v} lines" for k, v in long.items() if k not in LONG_FUNCTIONS]
    assert not too_long, f"longer than {MAX_FUNCTION_LINES} lines:\n" + "\n".join(too_long)
    assert sorted(set(LONG_FUNCTIONS) - set(long)) == [], "allowed but no longer long: drop them from the list"


def imported_names(path: Path) -> set[str]:
    """Every module name ``path`` imports, anywhere in it (absolute imports; tests/ and bench/ use no others)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def imports_of(folder: str, refused: tuple[str, ...]) -> list[str]:
    """"<file> imports <module>" for every module under ``refused`` (a package or module name) that a file
    under ``folder`` imports."""
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in sorted(imported_names(path))
        if any(name == r or name.startswith(f"{r}.") for r in refused)
    ]


def test_shared_test_and_bench_helpers_live_in_tests_harness():
    """tests/ never imports bench/; bench/ imports tests.harness only (never conftest or a test module); the
    harness imports neither pytest nor bench/."""
    wrong = imports_of("tests", ("bench",))
    wrong += imports_of("bench", ("tests.conftest", "tests.unit", "tests.contract", "tests.integration", "tests.e2e",
                                  "tests.deploy"))
    wrong += imports_of("tests/harness", ("pytest", "bench"))
    assert not wrong, "\n".join(wrong)


def readme_layout_rows() -> list[str]:
    """The rows of README.md's "How it fits together" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## How it fits together", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_readme_layout_table_names_only_paths_that_exist():
    """Every path the table names exists (``<name>``-style placeholders match any file), and every bare module
    name (``text.py``) in a row exists in (or below) that row's folder: the table is the newcomer's map of the tree."""
    missing = []
    for row in readme_layout_rows():
        where_cell, what_cell = row.split(" | ", 1)
        folders = []
        for path in re.findall(r"`([^`\s]+/[^`\s]*)`", where_cell):
            pattern = re.sub(r"<[^>]+>", "*", path.rstrip("/"))
            found = sorted(ROOT.glob(pattern))
            if not found:
                missing.append(path)
            folders += [p if p.is_dir() else p.parent for p in found]
        for path in re.findall(r"`([\w./-]+/[\w.-]+\.\w+)`", what_cell):
            if not (ROOT / path).exists():
                missing.append(path)
        for module in re.findall(r"`([\w]+\.py)`", what_cell):
            if folders and not any(next(folder.rglob(module), None) for folder in folders):
                missing.append(f"{module} (in {where_cell.strip('| ')})")
    assert readme_layout_rows(), "README.md has no 'How it fits together' table"
    assert missing == []


def test_every_module_of_the_cleaner_is_on_the_readme_map():
    """The cleaner's layers are listed in the table, one name per module (a new module goes on the map)."""
    row = next(r for r in readme_layout_rows() if r.startswith("| `services/cleaner/` |"))
    modules = {p.name for p in (ROOT / "services" / "cleaner").glob("*.py") if not p.name.startswith("__")}
    unlisted = sorted(m for m in modules if f"`{m}`" not in row and m != "settings.py")
    assert unlisted == []

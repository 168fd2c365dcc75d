"""The layering ARCHITECTURE.md describes, checked: importing every module of `core` never loads Textual (or any
`tui` module), so the engine runs headless and the CLI starts without the UI's imports; no import cycle among the
project's modules (one that only an import inside a function closes still couples both ways); no core module so long
that it holds several ideas."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_importing_all_of_core_never_loads_textual() -> None:
    modules = sorted(f"core.{p.stem}" for p in (ROOT / "core").glob("*.py") if p.stem != "__init__")
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui'))\n"
            "print(' '.join(loaded))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(modules) > 20 and result.stdout.strip() == "", result.stdout


def test_architecture_names_every_core_module() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [p.name for p in (ROOT / "core").glob("*.py") if p.stem != "__init__" and f"core/{p.name}" not in text]
    assert not missing, f"ARCHITECTURE.md does not place {missing}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at the top, inside functions and classes; not `if TYPE_CHECKING:` ones."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _imports(ast.Module(body=[child], type_ignores=[])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def import_graph() -> dict[str, set[str]]:
    """Project module → the project modules it imports (`from core import captions` counts as core.captions)."""
    files = {_module_name(p): p for folder in ("core", "tui") for p in (ROOT / folder).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets.add(base)
            targets |= {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a list of modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_sees_a_cycle_and_a_clean_graph() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_the_projects_modules() -> None:
    graph = import_graph()
    assert "core.captions" in graph["core.editing"] or "core.captions" in graph["core.workspace"]
    assert "tui.screens.help" in graph["tui.app"]  # an import inside a method counts
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph) or [])


def test_no_core_module_is_over_700_lines() -> None:
    long = {p.name: n for p in (ROOT / "core").glob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700}
    assert not long, f"split these core modules: {long}"


def test_core_cancels_through_the_job_only() -> None:
    """One cancellation mechanism (core/events.py `Job`): no core function takes a `cancel`, `stop` or `detach` of its
    own beside the job (a long job takes `job: Job = QUIET`; detaching from a run is `job.detach()`)."""
    found = []
    for path in sorted((ROOT / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                args = node.args
                names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a]
                found += [f"core/{path.name}:{node.lineno} {getattr(node, 'name', 'lambda')}({name})"
                          for name in names if name in ("cancel", "stop", "detach")]
    assert not found, found


def test_only_core_runs_spells_a_run_folders_file_names() -> None:
    """core/runs.py owns a run folder's layout: elsewhere a path is built from its constants (`run_dir / MERGED`),
    never from the literal (`run_dir / "merged"`), so "finished" and where each file lives are said once."""
    from core import runs

    # report.json and ct2/ are left out: an evaluation folder has its own report.json, the model cache its own ct2/
    layout = {runs.CHECKPOINTS, runs.METRICS, runs.ADAPTER, runs.MERGED, runs.RUN_CONFIG, runs.EVENTS, runs.PID,
              runs.LOG, runs.STOP_REQUEST, runs.EVALUATION}
    found = []
    for path in sorted([*(ROOT / "core").glob("*.py"), *(ROOT / "tui").rglob("*.py")]):
        if path.name == "runs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant)
                    and node.right.value in layout):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} / {node.right.value!r}")
    assert not found, found

"""The layering ARCHITECTURE.md describes, checked: importing every module of `core` never loads Textual (or any
`tui` module), so the engine runs headless and the CLI starts without the UI's imports."""

from __future__ import annotations

import subprocess
import sys
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

"""The `whisper-tui` command: core's CLI, with the workbench for when no subcommand is given."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli import main as cli_main
from core.errors import InputError


def open_workbench(workspace: Path | None, sample: bool) -> int:
    """The TUI on WORKSPACE (None: the current folder). Without a terminal it would spin writing escape codes into
    a pipe, so it refuses in one line instead."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InputError("the workbench needs a terminal (input or output is a pipe or a file); without one, run a "
                         "subcommand: whisper-tui transcribe FILE, prepare, train, evaluate (whisper-tui --help)")
    from tui.app import run_app

    if sample:
        from core.workspace import sample_workspace

        workspace = sample_workspace().root
    return run_app(workspace)


def main() -> int:
    return cli_main(sys.argv[1:], workbench=open_workbench)


if __name__ == "__main__":
    raise SystemExit(main())

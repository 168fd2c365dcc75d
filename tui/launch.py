"""The `whisper-tui` command: core's CLI, with the workbench for when no subcommand is given."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli import main as cli_main


def open_workbench(workspace: Path | None, sample: bool) -> int:
    from tui.app import run_app

    if sample:
        from core.workspace import sample_workspace

        workspace = sample_workspace().root
    return run_app(workspace)


def main() -> int:
    return cli_main(sys.argv[1:], workbench=open_workbench)


if __name__ == "__main__":
    raise SystemExit(main())

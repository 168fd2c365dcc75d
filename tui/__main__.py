"""`python -m tui [WORKSPACE]`: the same as the `whisper-tui` command."""

from tui.launch import main

raise SystemExit(main())

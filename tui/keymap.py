"""The user's keymap: binding ids → keys, read from `keymap.toml` in the config folder.

Every Binding in the app has an id (`editor.undo`, `app.help`…); `App.set_keymap` swaps its keys. The
file is either top-level `"editor.undo" = "ctrl+z"` lines or the same under a `[keys]` table; a bad
file never stops the app, it only produces warnings.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

KEYMAP_FILE = "keymap.toml"


def config_dir() -> Path:
    """`WHISPER_TUI_CONFIG` (for tests and odd setups), else the platform's user config folder."""
    override = os.environ.get("WHISPER_TUI_CONFIG")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("whisper-tui"))


def keymap_path() -> Path:
    return config_dir() / KEYMAP_FILE


def load_keymap(path: Path | None = None, known_ids: set[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(binding id → keys, warnings). A missing file is an empty keymap; unknown ids are reported."""
    path = keymap_path() if path is None else Path(path)
    if not path.is_file():
        return {}, []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        return {}, [f"{path}: ignored ({err})"]
    table = data.get("keys", data)
    keymap: dict[str, str] = {}
    warnings = []
    for binding_id, keys in table.items():
        if binding_id == "keys" and table is data:
            continue
        if not isinstance(keys, str) or not keys.strip():
            warnings.append(f"{path}: {binding_id!r} needs a key string such as \"ctrl+z\"")
        elif known_ids is not None and binding_id not in known_ids:
            warnings.append(f"{path}: no binding with id {binding_id!r} (see the help screen, ?)")
        else:
            keymap[binding_id] = ",".join(k.strip() for k in keys.split(",") if k.strip())
    return keymap, warnings

"""Playing a span of a recording: find an audio player, cut a clip for players that cannot seek, start it
detached. The editor and the Segments screen both play through a `Player`; it keeps the process it started,
so playing again (or leaving the screen) stops the one before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.captions import Cue
from core.errors import InputError

if TYPE_CHECKING:
    from core.workspace import Workspace

PLAYERS = ("ffplay", "paplay", "aplay")


def find_player(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """The first audio player on PATH; `WHISPER_TUI_PLAYER` picks one (or `none` for none)."""
    wanted = os.environ.get("WHISPER_TUI_PLAYER", "").strip()
    if wanted:
        return None if wanted.lower() == "none" else which(wanted)
    return next((path for name in PLAYERS if (path := which(name))), None)


def player_command(player: str, audio: Path, start_ms: int = 0, end_ms: int | None = None) -> list[str]:
    """The command line that plays `audio` (ffplay seeks itself; the others get a clip file)."""
    name = Path(player).name
    if name == "ffplay":
        cmd = [player, "-nodisp", "-autoexit", "-loglevel", "quiet", "-ss", f"{start_ms / 1000:.3f}"]
        if end_ms is not None:
            cmd += ["-t", f"{max(end_ms - start_ms, 1) / 1000:.3f}"]
        return [*cmd, str(audio)]
    return [player, str(audio)]


def needs_clip(player: str) -> bool:
    """Players that cannot seek need the cue cut to its own WAV first."""
    return Path(player).name != "ffplay"


def clip_path(workspace: Workspace, captions_path: Path, index: int) -> Path:
    return workspace.clips_dir / f"{Path(captions_path).stem}-cue{index + 1:04d}.wav"


def write_clip(audio: Path, cue: Cue, out: Path) -> Path:
    """Cut one cue's audio to a 16 kHz mono WAV (atomically)."""
    from core.audio import load_audio, write_wav

    duration = max(cue.duration, 1) / 1000
    return write_wav(out, load_audio(Path(audio), start_s=cue.start / 1000, duration_s=duration))


def start_player(cmd: Sequence[str]) -> subprocess.Popen:
    """Start a player without waiting for it and without letting it touch the terminal."""
    try:
        return subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as err:
        raise InputError(f"cannot run {cmd[0]}: {err.strerror or err}") from None


class Player:
    """Plays one span at a time: `play` (which may decode, so call it from a worker thread) stops the span
    playing before and starts the new one; `stop` stops it. The player program is looked up at each play
    (`find_player`), so `WHISPER_TUI_PLAYER` takes effect without a restart. Players that cannot seek get the
    span cut to `clip`, a temp file this object owns (`whisper-tui-<name>.wav`, one per screen)."""

    def __init__(self, name: str = "clip") -> None:
        self.clip = Path(tempfile.gettempdir()) / f"whisper-tui-{name}.wav"
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether a player is there to play with."""
        return find_player() is not None

    def play(self, audio: Path, start_ms: int, end_ms: int) -> str:
        """Play [start_ms, end_ms) of `audio` without waiting; returns the player's name. InputError when there
        is no player or it cannot start, OSError (or a decode error) when the clip cannot be cut."""
        player = find_player()
        if player is None:
            raise InputError("no audio player here (ffplay, paplay, aplay; WHISPER_TUI_PLAYER names one)")
        if needs_clip(player):
            cmd = player_command(player, write_clip(audio, Cue(start_ms, end_ms, ""), self.clip))
        else:
            cmd = player_command(player, audio, start_ms, end_ms)
        with self._lock:
            self._stop()
            self._process = start_player(cmd)
        return Path(player).name

    def stop(self) -> None:
        """Stop what is playing (nothing when nothing is)."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
        self._process = None

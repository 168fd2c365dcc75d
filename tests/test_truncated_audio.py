"""A file cut short (its header still claims the whole length) is named as such, with both lengths, by
`transcribe` (CLI and core events) and the Fetch screen, and the progress never counts audio that is not
there. The file is real: the first 3 KB of sample_data/validation.mp3, whose Xing header says 50.2 s and
whose bytes decode to 0.65 s. (`check --audio`, which must not decode, is in test_check_cli.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from core import audio, captions
from core.events import Job, Log, Progress
from core.transcribe import TranscribeOptions, load_engine, transcribe
from core.workspace import Workspace
from tests.tui_helpers import wait_for
from tui.app import WhisperTuiApp
from tui.jobs import JobEvent
from tui.screens.fetch import FetchScreen

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
WARNING = "talk.mp3 decodes to 0.7 s but its header says 50.2 s (the file looks truncated)"


@pytest.fixture
def talk(tmp_path: Path) -> Path:
    """The first 3 KB of a 50 s MP3, cut at test time."""
    path = tmp_path / "cut" / "talk.mp3"
    path.parent.mkdir()
    path.write_bytes((SAMPLES / "validation.mp3").read_bytes()[:3000])
    assert audio.probe(path).duration_s == pytest.approx(50.2, abs=0.05)  # the header still says 50 s
    return path


def _decoded_s(path: Path) -> float:
    return len(audio.load_audio(path)) / audio.SAMPLE_RATE


def test_transcribe_emits_one_warning_and_counts_only_what_decodes(tiny, talk: Path) -> None:
    events: list = []
    result = transcribe(talk, load_engine(tiny, TranscribeOptions(engine="ctranslate2", beam_size=1)),
                        Job(events.append))
    decoded = _decoded_s(talk)
    assert 0.5 < decoded < 1.0
    warnings = [e for e in events if isinstance(e, Log) and e.level == "warning"]
    assert [w.message for w in warnings] == [WARNING]
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(p.total is not None and p.total < 1.0 and p.done <= p.total for p in progress)
    assert progress[-1].done == progress[-1].total == pytest.approx(decoded)
    assert all(cue.end <= decoded * 1000 for cue in result.cues)


def test_whole_file_gets_no_warning(tiny) -> None:
    events: list = []
    transcribe(SAMPLES / "validation.mp3", load_engine(tiny, TranscribeOptions(engine="ctranslate2", beam_size=1)),
               Job(events.append))
    assert [e for e in events if isinstance(e, Log)] == []
    assert events[-1] == Progress("transcribe", 50.22, 50.22, "s")  # the header's length, as before


def test_cli_transcribe_says_so_in_one_line(tiny, talk: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "core.cli", "transcribe", str(talk), "-o", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out / "talk.vtt")
    lines = result.stderr.splitlines()
    assert [line for line in lines if "truncated" in line or "warning" in line] == [f"warning: {WARNING}"]
    amounts = [tuple(map(int, m.groups())) for m in re.finditer(r"(\d+)/(\d+) s", result.stderr)]
    assert amounts and all(total <= 1 for _, total in amounts), result.stderr  # never "50/50 s"
    assert len(captions.read(out / "talk.vtt").cues) <= 1  # what little there is, not 50 s of cues


@pytest.mark.anyio
async def test_fetch_screen_warns_and_keeps_the_warning(workspace: Workspace, talk: Path, tiny) -> None:
    seen: list = []

    def hook(message) -> None:  # a JobEvent bubbles from the screen to the app: count each message once
        if isinstance(message, JobEvent) and all(message.event is not event for event in seen):
            seen.append(message.event)

    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(200, 30), message_hook=hook) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FetchScreen))
        screen = app.screen
        await pilot.press("f")
        await pilot.press(*str(talk))
        await pilot.press("enter")
        status = screen.query_one("#status")
        await wait_for(pilot, lambda: screen.job_name is None and ("wrote" in status.text.plain
                                                                   or "failed" in status.text.plain), timeout=300)
        assert status.text.plain == f"warning: {WARNING} — wrote captions/talk.vtt"
        assert status.has_class("-warning")
        assert screen.query_one("#job-label").text.plain == "done: talk.vtt"
    assert [e.message for e in seen if isinstance(e, Log) and e.level == "warning"] == [WARNING]
    drafted = [e for e in seen if isinstance(e, Progress) and e.stage == "transcribe"]
    assert drafted and all(e.total is not None and e.total < 1.0 for e in drafted)  # the bar never said 50 s
    assert (workspace.captions_dir / "talk.vtt").is_file()

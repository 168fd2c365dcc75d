"""The bad-input corpus (tests/bad_inputs/manifest.toml): every entry point fed hostile or broken input.

Each entry runs as a user runs it: a real `python -m core.cli` process in a fresh folder. The checks (one
clear line, the documented exit code, no traceback, nothing partial left) are described at the top of the
manifest. `BAD_INPUTS_TABLE=FILE pytest tests/test_bad_inputs.py` also writes the README's table to FILE.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.bad_inputs.make_corpus import PNG, wav_header
from tests.local_http import closed_port, serving

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "bad_inputs"
SAMPLES = ROOT / "sample_data"
ENTRIES: list[dict] = tomllib.loads((CORPUS / "manifest.toml").read_text(encoding="utf-8"))["input"]
ENTRY_POINTS = {"fetch", "transcribe", "check", "prepare", "train", "evaluate", "export"}
KEYS = {"id", "what", "argv", "exit", "stderr", "stdout", "progress", "made", "kept", "absent", "setup", "needs",
        "verify", "max_seconds"}
DEFAULT_MAX_SECONDS = 60
ERROR_LINE = re.compile(r"^whisper-tui: error: (?P<message>.+)$")
HANDLED: dict[str, str] = {}  # id -> the line that showed it was handled (for the summary and the README table)


# ---------------------------------------------------------------------------- inputs made at test time


def _three_hours_wav(gen: Path) -> None:
    """3 hours of 8 kHz 16-bit silence (173 MB) as a sparse file: a real recording that costs no disk."""
    samples = 3 * 3600 * 8000 * 2
    with open(gen / "three_hours.wav", "wb") as handle:
        handle.write(wav_header(samples, rate=8000))
        handle.truncate(44 + samples)


def _save_datasets(gen: Path, name: str, splits: tuple[str, ...] | None) -> None:
    """A folder as another tool leaves it: `datasets` save_to_disk, with none of our columns or metadata."""
    import datasets

    datasets.disable_progress_bars()
    rows = datasets.Dataset.from_dict({"sentence": ["hello there", "general kenobi"], "path": ["a.wav", "b.wav"]})
    data = rows if splits is None else datasets.DatasetDict({split: rows for split in splits})
    data.save_to_disk(str(gen / name))


def _user_folder(gen: Path) -> None:
    (gen / "my_folder").mkdir()
    (gen / "my_folder" / "notes.txt").write_text("the user's own file\n")


GENERATORS: dict[str, Callable[[Path], object]] = {
    "three_hours_wav": _three_hours_wav,
    "huge_cue_vtt": lambda gen: (gen / "huge_cue.vtt").write_text(
        "WEBVTT\n\n00:01.000 --> 00:02.000\n" + "word " * 2_000_000 + "\n"),
    "huge_line_vtt": lambda gen: (gen / "huge_line.vtt").write_text("x" * 20_000_000),
    "huge_keywords_txt": lambda gen: (gen / "huge_keywords.txt").write_text("LoRA\n" + "x" * 1_000_000 + "\n"),
    "png_as_vtt": lambda gen: (gen / "picture.vtt").write_bytes(PNG),
    "metachar_wav": lambda gen: shutil.copy(CORPUS / "audio" / "silence.wav", gen / "rec;$(touch pwned)&`id`.wav"),
    "empty_model_dir": lambda gen: (gen / "empty_model").mkdir(),
    "a_file": lambda gen: (gen / "a_file").write_text("a regular file, not a folder\n"),
    "user_folder": _user_folder,
    "plain_dataset": lambda gen: _save_datasets(gen, "plain_dataset", None),
    "other_dataset_dict": lambda gen: _save_datasets(gen, "other_dataset_dict", ("train", "test")),
}


# ---------------------------------------------------------------------------- extra checks named by `verify`


def _no_cues(places: dict[str, str]) -> None:
    from core import captions as caps

    path = Path(places["out"]) / "silence.vtt"
    assert path.read_text(encoding="utf-8").startswith("WEBVTT")
    assert len(caps.read(path)) == 0


def _keywords_deduplicated(places: dict[str, str]) -> None:
    from core.vocabulary import Keyword, load_keywords

    assert load_keywords(CORPUS / "keywords" / "blanks_duplicates.txt") == [
        Keyword("LoRA"), Keyword("GGUF", ("gee guff", "gguf file"))]


VERIFY: dict[str, Callable[[dict[str, str]], None]] = {
    "no_cues": _no_cues,
    "keywords_deduplicated": _keywords_deduplicated,
}


# ---------------------------------------------------------------------------- a local web server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a web server holding the corpus's audio/ folder and an HTML page."""
    root = tmp_path_factory.mktemp("www")
    shutil.copytree(CORPUS / "audio", root / "audio")
    (root / "page.html").write_text("<html><body><p>no media here</p></body></html>\n")
    with serving(root) as url:
        yield url


# ---------------------------------------------------------------------------- running one entry


def _fill(text: str, places: dict[str, str]) -> str:
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


def _tree(root: Path) -> dict[Path, tuple]:
    """Every path under root (files and folders, hidden ones too) with what would show a change."""
    tree = {}
    for path in root.rglob("*"):
        stat = path.lstat()
        tree[path] = ("dir",) if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
    return tree


def _changed(before: dict[Path, tuple], after: dict[Path, tuple]) -> list[Path]:
    return sorted(p for p in after if before.get(p) != after[p])


def _cache_leftovers(model: Path) -> list[str]:
    """What a failed conversion of `model` left in the model cache (its lock file aside)."""
    cache = Path(os.environ["WHISPER_TUI_CACHE"])
    found = [p for kind in ("hf", "ct2") if (cache / kind).is_dir() for p in (cache / kind).iterdir()]
    return [p.name for p in found if model.name in p.name and not p.name.endswith(".lock")]


def _describe(entry: dict, result: subprocess.CompletedProcess) -> str:
    return (f"\n{entry['id']}: exit {result.returncode}, expected {entry['exit']}\n"
            f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry["id"] for entry in ENTRIES])
def test_bad_input(entry: dict, request: pytest.FixtureRequest, tmp_path: Path, home: Path) -> None:
    for fixture in entry.get("needs", []):
        request.getfixturevalue(fixture)
    gen = tmp_path / "gen"
    gen.mkdir()
    places = {"corpus": str(CORPUS), "samples": str(SAMPLES), "tmp": str(tmp_path), "out": str(tmp_path / "out"),
              "gen": str(gen)}
    argv = entry["argv"]
    if any("{url}" in arg for arg in argv):
        places["url"] = request.getfixturevalue("server")
    if any("{closed}" in arg for arg in argv):
        places["closed"] = str(closed_port())
    for name in entry.get("setup", []):
        GENERATORS[name](gen)
    argv = [_fill(arg, places) for arg in argv]
    models = [Path(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg == "-m" and Path(argv[i + 1]).is_dir()]
    before, corpus_before, samples_before = _tree(tmp_path), _tree(CORPUS), _tree(SAMPLES)

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("WHISPER_TUI_DEBUG", None)
    limit = entry.get("max_seconds", DEFAULT_MAX_SECONDS)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "core.cli", *argv], cwd=tmp_path, env=env, capture_output=True,
                            encoding="utf-8", errors="replace", timeout=limit + 120)
    elapsed = time.monotonic() - started
    why = _describe(entry, result)

    # the documented exit code, never a traceback, and one clear line
    assert "Traceback" not in result.stderr + result.stdout, why
    assert result.returncode == entry["exit"], why
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("whisper-tui:")]
    if "stderr" in entry:
        assert lines and len(ours) == 1 and ours[0] == lines[-1], why
        assert entry.get("progress") or len(lines) == 1, f"more than one line on stderr{why}"
        error = ERROR_LINE.match(lines[-1])
        assert error and re.search(_fill(entry["stderr"], places), error["message"]), why
        HANDLED[entry["id"]] = error["message"]
    else:
        assert not ours, why
    if "stdout" in entry:
        shown = re.search(_fill(entry["stdout"], places), result.stdout, re.MULTILINE)
        assert shown, why
        line_start = result.stdout.rfind("\n", 0, shown.start()) + 1
        HANDLED.setdefault(entry["id"], result.stdout[line_start:].split("\n", 1)[0])
    assert elapsed <= limit, f"took {elapsed:.1f} s, over {limit} s{why}"

    # nothing partial left: no new files except what the entry is meant to make, inputs untouched
    made = [Path(_fill(path, places)) for path in entry.get("made", [])]
    for path in made:
        assert path.exists(), f"{path} was not made{why}"
    after = _tree(tmp_path)
    allowed = {tmp_path / "out"} | {parent for path in made for parent in (path, *path.parents)}
    stray = [p for p in _changed(before, after)
             if p not in allowed and not any(m in p.parents for m in made)]
    assert stray == [], f"left behind: {[str(p.relative_to(tmp_path)) for p in stray]}{why}"
    out = tmp_path / "out"
    if entry["exit"] != 0:
        assert not out.exists() or not any(out.iterdir()), why
    hidden = [p for p in after if p not in before and (p.name.startswith(".") or p.suffix in (".tmp", ".partial"))]
    assert hidden == [], f"temp files left: {hidden}{why}"
    assert _tree(CORPUS) == corpus_before and _tree(SAMPLES) == samples_before, f"an input was modified{why}"
    for path in entry.get("kept", []):
        assert Path(_fill(path, places)).exists(), f"{path} is gone{why}"
    for path in entry.get("absent", []):
        assert not Path(_fill(path, places)).exists(), f"{path} exists{why}"
    for model in models:
        assert _cache_leftovers(model) == [], why
    if "verify" in entry:
        VERIFY[entry["verify"]](places)
    HANDLED.setdefault(entry["id"], f"exit {result.returncode}")


def test_corpus_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the entries (file order): the corpus is well-formed and big enough; prints its count."""
    ids = [entry["id"] for entry in ENTRIES]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for entry in ENTRIES:
        assert set(entry) <= KEYS and {"id", "what", "argv", "exit"} <= set(entry), entry
        assert entry["exit"] in (0, 1, 2), entry["id"]
        assert "stderr" in entry or "stdout" in entry, f"{entry['id']}: says nothing about what the user sees"
        assert all(name in GENERATORS for name in entry.get("setup", [])), entry["id"]
        assert entry.get("verify", "no_cues") in VERIFY, entry["id"]
    assert len(ENTRIES) >= 40
    assert {entry["argv"][0] for entry in ENTRIES} == ENTRY_POINTS
    assert all(path.stat().st_size < 100_000 for path in CORPUS.rglob("*") if path.is_file())

    ran = [i for i in ids if i in HANDLED]
    if len(ran) == len(ids):
        summary = f"bad-input corpus: {len(ids)} inputs, all handled"
    else:
        summary = f"bad-input corpus: {len(ids)} inputs, {len(ran)} handled as documented in this run"
    with capsys.disabled():  # shown in the test output even though pytest captures it
        print(f"\n{summary}")
    table = os.environ.get("BAD_INPUTS_TABLE")
    if table:
        Path(table).write_text(_markdown_table(), encoding="utf-8")


def _markdown_table() -> str:
    rows = ["| input | entry point | exit | what the user gets |", "|---|---|---|---|"]
    for entry in ENTRIES:
        line = HANDLED.get(entry["id"], "")
        line = re.sub(r"(?<![\w:/])/(?:[^/\s]+/)+", "", line)  # local paths shown by their last part
        line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
        line = line if len(line) <= 90 else line[:87] + "..."
        code = f"`` {line} ``" if "`" in line else f"`{line}`"
        cells = [entry["what"], entry["argv"][0], str(entry["exit"]), code if line else ""]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"

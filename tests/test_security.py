"""Security: no shell anywhere; names that come from URLs and page titles stay inside the output folder; the Hub
token is used but never printed, logged or written anywhere (a whole prepare → train → evaluate → export → push
loop is run with a distinctive token against tests/local_hub.py's stand-in Hub, once refused and once accepted,
and every byte it left behind is searched, the uploaded files included)."""

from __future__ import annotations

import ast
import contextlib
import http.server
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.local_http import serving_with
from tests.local_hub import LocalHub, running_hub

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
SOURCE_DIRS = ("core", "tui", "bench", "tests")

# ---------------------------------------------------------------------------- no shell


def _python_files() -> list[Path]:
    files = []
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = set(path.relative_to(ROOT).parts)
            if "__pycache__" not in parts and "work" not in parts:  # bench/work: generated, ignored by git
                files.append(path)
    return files


def _shell_uses(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Calls that hand a string to a shell. Parsed, not grepped, so this file's own words never match."""
    shell_calls = {("os", "system"), ("os", "popen"), ("os", "spawnlp"), ("asyncio", "create_subprocess_shell"),
                   ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"), ("pty", "spawn")}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and not keyword.value.value):
                yield node.lineno, "shell=" + ast.unparse(keyword.value)
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if (func.value.id, func.attr) in shell_calls:
                yield node.lineno, f"{func.value.id}.{func.attr}()"
        elif isinstance(func, ast.Name) and func.id in {"system", "popen", "create_subprocess_shell", "getoutput"}:
            yield node.lineno, f"{func.id}()"


def test_no_shell_anywhere() -> None:
    files = _python_files()
    assert len(files) > 40 and any(p.parent.name == "bench" for p in files)  # really looked everywhere
    found = [f"{path.relative_to(ROOT)}:{line}: {what}" for path in files
             for line, what in _shell_uses(ast.parse(path.read_text(encoding="utf-8"), str(path)))]
    assert found == []


def test_the_shell_check_would_catch_one() -> None:
    shell_true = "shell=" + "True"  # spelled in two parts so that `grep -rn` over the tree finds nothing
    sample = f"import os, subprocess\nsubprocess.run('ls', {shell_true})\nos.system('ls')\n" \
             "subprocess.run(['ls'], shell=False)"
    assert [what for _, what in _shell_uses(ast.parse(sample))] == [shell_true, "os.system()"]


# ---------------------------------------------------------------------------- names from URLs and titles


class _MediaHandler(http.server.BaseHTTPRequestHandler):
    """Serves the sample recording at ANY path (so the path can carry a hostile name), and an HTML page whose
    <title> is hostile at /page.html."""

    media = b""
    page_title = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/page.html"):
            body = (f"<html><head><title>{self.page_title}</title></head><body>"
                    f"<video src='/clip.mp3'></video></body></html>").encode()
            kind = "text/html"
        else:
            body, kind = self.media, "audio/mpeg"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(ConnectionError):  # yt-dlp sniffs the first bytes and hangs up
            self.wfile.write(body)


@pytest.fixture(scope="module")
def media_server() -> Iterator[str]:
    _MediaHandler.media = (SAMPLES / "validation.mp3").read_bytes()
    _MediaHandler.page_title = "../../../escaped-by-title"
    with serving_with(_MediaHandler) as url:
        yield url


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_hostile_names_from_urls_and_titles_stay_in_the_workspace(media_server: str, tmp_path: Path) -> None:
    """yt-dlp takes a direct link's title from its (URL-decoded) file name and a page's from its <title>: here
    they are `../../x`, an absolute path, a NUL, and a relative escape; each lands in audio/, under a plain name."""
    from core.fetch import safe_filename
    from core.workspace import add_source, create_workspace

    outside = tmp_path / "outside"
    outside.mkdir()
    workspace = create_workspace(tmp_path / "deep" / "er" / "ws")
    before = _tree(tmp_path)
    escape = f"{outside}/pwned"  # an absolute path (a harmless one: a regression must not clobber a real file)
    urls = {  # URL → the title yt-dlp reports → the start of the name it must get
        f"{media_server}/..%2F..%2Fx.mp3": ("../../x", "x"),
        f"{media_server}/%2Fetc%2Fpasswd.mp3": ("/etc/passwd", "etc_passwd"),
        f"{media_server}/{quote(escape, safe='')}.mp3": (escape, safe_filename(escape)),
        f"{media_server}/a%00b.mp3": ("a\0b", "a_b"),
        f"{media_server}/page.html": ("../../../escaped-by-title (1)", "escaped-by-title"),
    }
    audio_dir = workspace.audio_dir.resolve()
    for url, (_title, name) in urls.items():
        path = add_source(workspace, url)
        assert path.resolve().parent == audio_dir, (url, path)
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*\.wav", path.name), (url, path.name)
        assert path.name.startswith(name), (url, path.name)
    assert len(list(audio_dir.iterdir())) == len(urls)  # five recordings, nothing else (no temp leftovers)

    # the CLI's fetch too (it prints the path it saved)
    cli_out = tmp_path / "deep" / "fetched"
    result = subprocess.run([sys.executable, "-m", "core.cli", "fetch", f"{media_server}/..%2F..%2F..%2Fcli.mp3",
                             "-o", str(cli_out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    fetched = Path(result.stdout.strip().splitlines()[-1])
    assert fetched.resolve().parent == cli_out.resolve() and fetched.name == "cli.wav"

    created = _tree(tmp_path) - before
    stray = [p for p in created if not p.is_relative_to(workspace.root) and not p.is_relative_to(cli_out)
             and p not in (cli_out, cli_out.parent)]
    assert stray == []
    assert list(outside.iterdir()) == []
    assert not Path("/etc/passwd.wav").exists()


# ---------------------------------------------------------------------------- the Hub token


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalHub]:
    """A Hub that refuses every token and (like a careless proxy) echoes the credentials back in its error."""
    with running_hub(tmp_path / "refusing-hub", token=None) as refusing:
        yield refusing


def _files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                yield path


@pytest.mark.slow
def test_the_hub_token_is_never_printed_logged_or_written(tmp_path: Path, tiny, hub: LocalHub,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from core.train import TrainConfig
    from core.train_process import TrainProcess
    from core.vocabulary import load_keywords

    started = time.time()
    token = f"hf_wtuiLeakCanary{secrets.token_hex(12)}"
    hf_home = tmp_path / "hf-home"
    for name, value in {"HF_TOKEN": token, "HUGGING_FACE_HUB_TOKEN": token, "HF_HOME": str(hf_home),
                        "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(name, value)
    online = {**os.environ, **hub.env(token)}
    outputs: list[str] = []

    def cli(*argv: str, env: dict | None = None, code: str | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "core.cli", *argv]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                                env=env or dict(os.environ))
        outputs.extend([result.stdout, result.stderr])
        return result

    ws = tmp_path / "ws"
    dataset = ws / "dataset"
    # prepare + push while offline: the dataset is written, the push is one line
    prepared = cli("prepare", "--no-views", "--audio", str(SAMPLES / "train.mp3"),
                   "--captions", str(SAMPLES / "train.vtt"),
                   "--holdout", "0.05", "-o", str(dataset), "--push-to-hub", "someone/private-data")
    assert prepared.returncode == 1 and (dataset / "dataset_dict.json").is_file(), prepared.stderr
    assert prepared.stderr.strip().splitlines()[-1] == (
        "whisper-tui: error: cannot push to the Hub (someone/private-data): offline mode is on (HF_HUB_OFFLINE)")
    # ...and online, to a Hub that refuses the token and echoes it back
    pushed = cli("prepare", "--no-views", "--audio", str(SAMPLES / "train.mp3"),
                   "--captions", str(SAMPLES / "train.vtt"),
                 "--holdout", "0.05", "-o", str(ws / "dataset-pushed"), "--push-to-hub", "someone/private-data",
                 env=online)
    assert pushed.returncode == 1, pushed.stderr[-2000:]
    assert pushed.stderr.strip().splitlines()[-1].startswith(
        "whisper-tui: error: could not push to the Hub (someone/private-data): ")

    # train as the TUI does: a separate process writing train.log, events.jsonl and train.pid into the run
    run_dir = ws / "runs" / "run-1"
    config = TrainConfig(dataset=dataset, output=run_dir, max_steps=2, eval_every=2, speeds=(1.0,), batch_size=2,
                         device="cpu", keywords=tuple(load_keywords(SAMPLES / "keywords.txt")))
    outcome = TrainProcess.start(config).follow()
    assert outcome.finished, outcome.error or (run_dir / "train.log").read_text()[-2000:]
    assert (run_dir / "train.log").is_file() and (run_dir / "events.jsonl").is_file()

    evaluated = cli("evaluate", "-m", str(run_dir), "--audio", str(SAMPLES / "validation.mp3"), "--captions",
                    str(SAMPLES / "validation.vtt"), "--keywords", str(SAMPLES / "keywords.txt"), "--no-prompted")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    exported = cli("export", str(run_dir), "--ct2")
    assert exported.returncode == 0, exported.stderr[-2000:]
    push_model = ("import sys\nfrom core.errors import WhisperTuiError\nfrom core.evaluate import push_model\n"
                  "try:\n    print(push_model(sys.argv[1], 'someone/private-model'))\n"
                  "except WhisperTuiError as err:\n    print(err, file=sys.stderr)\n    sys.exit(err.exit_code)")
    pushed_model = cli(str(run_dir), code=push_model, env=online)
    assert pushed_model.returncode == 1, pushed_model.stderr[-2000:]
    assert pushed_model.stderr.startswith("could not push to the Hub (someone/private-model): ")
    # ...and to a Hub that takes the token: the dataset and the model arrive (stored under tmp_path, so the search
    # below reads every uploaded byte too)
    with running_hub(tmp_path / "accepting-hub", token=token) as accepting:
        accepted = {**os.environ, **accepting.env(token)}
        assert cli("prepare", "--no-views", "--audio", str(SAMPLES / "train.mp3"),
                   "--captions", str(SAMPLES / "train.vtt"),
                   "--holdout", "0.05", "-o", str(ws / "dataset-accepted"), "--push-to-hub", "someone/private-data",
                   env=accepted).returncode == 0, outputs[-1][-2000:]
        assert cli(str(run_dir), code=push_model, env=accepted).returncode == 0, outputs[-1][-2000:]
    assert "model.safetensors" in accepting.repo("model", "someone/private-model").files
    assert accepting.repo("dataset", "someone/private-data").files

    # the token really went to the Hubs (so the search below is not vacuous)...
    assert f"Bearer {token}" in hub.seen_auth and set(accepting.seen_auth) == {f"Bearer {token}"}
    # the stand-in echoed it into its error, which reaches the user only with the token masked
    assert "Bearer ***" in pushed.stderr and "Bearer ***" in pushed_model.stderr
    # ...and nowhere else: not in any output, nor in any byte of any file the loop wrote (model cache included)
    needles = [token.encode(), token.encode("utf-16-le"), token[-24:].encode()]
    for text in outputs:
        assert token not in text and token[-24:] not in text
    cache = Path(os.environ["WHISPER_TUI_CACHE"])
    searched = 0
    for path in _files(tmp_path, cache):
        if not path.is_relative_to(tmp_path) and path.stat().st_mtime < started:
            continue  # the shared model cache: only what this loop wrote into it
        data = path.read_bytes()
        searched += 1
        assert not any(needle in data for needle in needles), f"the token is in {path}"
    assert searched > 30
    written = {p.relative_to(run_dir).parts[0] for p in _files(run_dir)}
    assert {"train.log", "events.jsonl", "metrics.jsonl", "report.json", "merged", "adapter", "ct2",
            "evaluation", "checkpoints"} <= written

"""Install or fetch the real human speech the tests use (tests/human_speech.py), so `make test` needs no other step.

`make test` runs this first with the venv's python. The sources, tried in order until the data is there, one line
of output per action:
1. already present (the Debian packages, or an earlier fetch into the venv) → nothing: no network, milliseconds;
2. root with apt-get → `apt-get install` of the three Debian packages (what `.ci/run` used to do itself);
3. apt-get without root → `apt-get download` + `dpkg-deb -x` into `<venv>/share/whisper-tui-test-data/deb/`: the
   identical Debian files, no root needed;
4. no apt → the LibriVox sentences from PyPI's sdist of pocketsphinx 5.1.1 (the same five recordings and
   `transcription` file that `pocketsphinx-testdata` packages; sha256 checked) into
   `<venv>/share/whisper-tui-test-data/pypi/`. Nothing pip reaches ships the Asterisk prompts, so there the human
   control set is the LibriVox sentences alone, and tests/human_speech.py warns that it is.

Every fetch is unpacked in a temp folder and renamed into place, so an interrupted one is never taken for data.
Standard library only: it runs before anything else is imported, and tests/human_speech.py reads its paths.
`WHISPER_TUI_TEST_DATA` moves the venv folder (for a python whose prefix is not writable).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

DATA_DIR = Path(os.environ.get("WHISPER_TUI_TEST_DATA") or Path(sys.prefix) / "share" / "whisper-tui-test-data")
SYSTEM = Path("/")
# The g722 package installs into en_US_f_Allison; its `en` name is an update-alternatives link made at install time,
# so an unpacked .deb has only the former.
ASTERISK_SOUNDS = ("usr/share/asterisk/sounds/en", "usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TEXT = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
LIBRIVOX = "usr/share/pocketsphinx/test/data/librivox"

# the quality protocol's third real-speech source (bench/quality.py, `--bench`): fetched, never installed, since
# installing the package would pull in scummvm
FOTAQ_PACKAGE = "flight-of-the-amazon-queen"
FOTAQ = "usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"

PYPI_SDIST = ("https://files.pythonhosted.org/packages/61/e7/13e0e787ff467218de880310d79cba14424f13b87171ac44af0bde1e428c/"
              "pocketsphinx-5.1.1.tar.gz")
PYPI_SHA256 = "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"
PYPI_LIBRIVOX = "pocketsphinx-5.1.1/test/data/librivox"  # inside the sdist, and under DATA_DIR/pypi
APT_TIMEOUT_S = 900
FETCH_TIMEOUT_S = 120


def _roots() -> list[Path]:
    """The system, then each Debian package unpacked into the venv."""
    return [SYSTEM, *sorted(p for p in (DATA_DIR / "deb").glob("*") if not p.name.startswith("."))]


def asterisk_sounds() -> Path | None:
    """The folder of Asterisk's G.722 prompts (package asterisk-core-sounds-en-g722)."""
    for root in _roots():
        for name in ASTERISK_SOUNDS:
            folder = root / name
            if folder.is_dir() and next(folder.glob("*.g722"), None) is not None:
                return folder
    return None


def asterisk_text() -> Path | None:
    """The text of every prompt, `name: text` per line (package asterisk-core-sounds-en)."""
    return next((root / ASTERISK_TEXT for root in _roots() if (root / ASTERISK_TEXT).is_file()), None)


def _complete_librivox(folder: Path) -> bool:
    """`transcription` is there and so is the WAV of every line in it."""
    try:
        lines = (folder / "transcription").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    ids = [line.rsplit("(", 1)[1].rstrip(") \t") for line in lines if "(" in line]
    return bool(ids) and all((folder / f"{file_id}.wav").is_file() for file_id in ids)


def librivox_dir() -> Path | None:
    """The five LibriVox sentences with their `transcription` (pocketsphinx-testdata, or the PyPI sdist)."""
    candidates = [root / LIBRIVOX for root in _roots()] + [DATA_DIR / "pypi" / PYPI_LIBRIVOX]
    return next((folder for folder in candidates if _complete_librivox(folder)), None)


PACKAGES: dict[str, Callable[[], Path | None]] = {
    "asterisk-core-sounds-en": asterisk_text,
    "asterisk-core-sounds-en-g722": asterisk_sounds,
    "pocketsphinx-testdata": librivox_dir,
}


def fotaq_file() -> Path | None:
    """queen.1c of Flight of the Amazon Queen (tests/fotaq.py reads its speech and subtitles)."""
    return next((root / FOTAQ for root in _roots() if (root / FOTAQ).is_file()), None)


def fetch_fotaq() -> bool:
    """The bench's extra real speech: `apt-get download` + unpack (root refreshes stale package lists once)."""
    if fotaq_file() is not None:
        return True
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        say(f"{FOTAQ_PACKAGE}: needs apt-get and dpkg-deb (Debian/Ubuntu)")
        return False
    if not apt_download([FOTAQ_PACKAGE]) and os.geteuid() == 0:
        _run(["apt-get", "update", "-qq", "-o", "DPkg::Lock::Timeout=300"])
        apt_download([FOTAQ_PACKAGE])
    return fotaq_file() is not None


def missing() -> list[str]:
    """The Debian packages whose files are found neither on the system nor in the venv."""
    return [package for package, find in PACKAGES.items() if find() is None]


def say(line: str) -> None:
    print(f"test data: {line}", flush=True)


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=APT_TIMEOUT_S)


def _why(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("W:")]
    return (lines or result.stderr.splitlines() or [f"exit {result.returncode}"])[-1].strip()


def apt_install(packages: list[str]) -> bool:
    """As root: install the packages, reading fresh package lists only when the first try needs them."""
    started = time.monotonic()
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300",
               *packages]
    result, updated = _run(install), False
    if result.returncode != 0:
        updated = True
        _run(["apt-get", "update", "-qq", "-o", "DPkg::Lock::Timeout=300"])
        result = _run(install)
    after = " after apt-get update" if updated else ""
    if result.returncode != 0:
        say(f"apt-get install {' '.join(packages)} failed{after} ({_why(result)})")
        return False
    say(f"apt-get install {' '.join(packages)}: done{after} in {time.monotonic() - started:.1f} s")
    return True


@contextlib.contextmanager
def _staging(name: str) -> Iterator[Path]:
    """A temp folder inside DATA_DIR (same file system, so the final rename is one step), removed afterwards."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=DATA_DIR))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _put_in_place(built: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    built.rename(final)


def apt_download(packages: list[str]) -> bool:
    """Without root: fetch the .deb files and unpack each into DATA_DIR/deb/<package>/ (no maintainer scripts run,
    which is why asterisk_sounds also looks for the en_US_f_Allison folder)."""
    started = time.monotonic()
    with _staging("apt") as staging:
        result = _run(["apt-get", "download", *packages], cwd=staging)
        debs = {package: next(staging.glob(f"{package}_*.deb"), None) for package in packages}
        if result.returncode != 0 or None in debs.values():
            say(f"apt-get download {' '.join(packages)} failed ({_why(result)})")
            return False
        for package, deb in debs.items():
            unpacked = staging / "unpacked" / package
            unpacked.mkdir(parents=True)  # dpkg-deb -x makes the last folder only
            result = _run(["dpkg-deb", "-x", str(deb), str(unpacked)])
            if result.returncode != 0:
                say(f"dpkg-deb -x {deb.name} failed ({_why(result)})")
                return False
            _put_in_place(unpacked, DATA_DIR / "deb" / package)
    say(f"apt-get download + dpkg-deb -x {' '.join(packages)} → {DATA_DIR / 'deb'}: done in "
        f"{time.monotonic() - started:.1f} s")
    return True


def pypi_librivox() -> bool:
    """Fetch pocketsphinx 5.1.1's sdist from PyPI, check its sha256 and keep only test/data/librivox/."""
    started = time.monotonic()
    with _staging("pypi") as staging:
        sdist, digest, size = staging / Path(PYPI_SDIST).name, hashlib.sha256(), 0
        try:
            with urllib.request.urlopen(PYPI_SDIST, timeout=FETCH_TIMEOUT_S) as response, open(sdist, "wb") as out:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        except OSError as err:
            say(f"download of {PYPI_SDIST} failed ({err})")
            return False
        if digest.hexdigest() != PYPI_SHA256:
            say(f"{sdist.name} from PyPI has sha256 {digest.hexdigest()}, not {PYPI_SHA256}: not used")
            return False
        built = staging / "tree"
        with tarfile.open(sdist, "r:gz") as archive:
            members = [m for m in archive.getmembers() if m.isfile() and m.name.startswith(PYPI_LIBRIVOX + "/")]
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # 3.11.4+; a checked sdist anyway
            archive.extractall(built, members=members, **safe)
        (built / "pocketsphinx-5.1.1" / "SOURCE.txt").write_text(
            f"{PYPI_SDIST}\nsha256 {PYPI_SHA256}\nonly {PYPI_LIBRIVOX}/ kept (the files pocketsphinx-testdata packages "
            "as /usr/share/pocketsphinx/test/data/librivox/)\n", encoding="utf-8")
        if not _complete_librivox(built / PYPI_LIBRIVOX):
            say(f"{sdist.name} holds no complete {PYPI_LIBRIVOX}/: not used")
            return False
        _put_in_place(built / "pocketsphinx-5.1.1", DATA_DIR / "pypi" / "pocketsphinx-5.1.1")
    wavs = len(list((DATA_DIR / "pypi" / PYPI_LIBRIVOX).glob("*.wav")))
    say(f"PyPI pocketsphinx-5.1.1.tar.gz ({size / 1e6:.0f} MB, sha256 ok) → {DATA_DIR / 'pypi' / PYPI_LIBRIVOX}: "
        f"{wavs} LibriVox recordings in {time.monotonic() - started:.1f} s")
    return True


def _found() -> str:
    places = {"Asterisk prompts": asterisk_sounds(), "prompt texts": asterisk_text(), "LibriVox": librivox_dir()}
    return ", ".join(f"{name} {path}" for name, path in places.items() if path is not None)


def main(argv: list[str] | None = None) -> int:
    """Fetch what is missing; exit 1 only when not even the LibriVox sentences could be had (or, with --bench,
    the quality protocol's Flight of the Amazon Queen recordings)."""
    argv = sys.argv[1:] if argv is None else argv
    if "--bench" in argv and not fetch_fotaq():
        return 1
    need = missing()
    if not need:
        say(f"real speech present ({_found()})")
        return 0
    apt = shutil.which("apt-get") is not None
    if apt and os.geteuid() == 0:
        apt_install(need)
        need = missing()
    if need and apt and shutil.which("dpkg-deb"):
        apt_download(need)  # also what root falls back to when dpkg leaves /usr/share/doc out (slim images)
        need = missing()
    if "pocketsphinx-testdata" in need:
        pypi_librivox()
        need = missing()
    if "pocketsphinx-testdata" in need:
        say("no real speech could be had: the human-speech tests will fail (install the Debian packages "
            f"{' '.join(PACKAGES)}, or reach PyPI)")
        return 1
    if need:
        why = "apt-get failed above" if apt else "only apt-get brings them"
        say(f"no Asterisk prompts ({' '.join(need)}: {why}): the human control set is the LibriVox sentences alone "
            f"({librivox_dir()})")
        return 0
    say(f"real speech ready ({_found()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

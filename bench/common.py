"""Shared helpers for the bench scripts: paths, ffmpeg, machine facts, RESULTS.md sections, child-process stats.

Nothing here imports torch or transformers, so a bench parent process stays small and its children are
measured on their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"  # git-ignored scratch space (recordings, outputs)
RESULTS = ROOT / "bench" / "RESULTS.md"
SAMPLE_DATA = ROOT / "sample_data"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------------------- ffmpeg


def ffmpeg_binary() -> str:
    """The ffmpeg the app itself uses (system one, else imageio-ffmpeg's)."""
    from core.audio import ffmpeg_binary as core_ffmpeg

    return core_ffmpeg()


def run_ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly (errors only), overwriting outputs; raise on failure."""
    subprocess.run([ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


# ---------------------------------------------------------------------------- machine facts


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform's guess elsewhere)."""
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    except OSError:
        match = None
    return match.group(1).strip() if match else (platform.processor() or "unknown CPU")


def usable_cpus() -> int:
    """CPUs this process may run on (what `nproc` prints)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def total_ram_gib() -> float:
    """Physical memory in GiB (MemTotal)."""
    try:
        match = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        if match:
            return int(match.group(1)) / 1024**2
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def load_average() -> str:
    """The 1, 5 and 15 minute load averages as '1.23 / 0.98 / 0.50'."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def versions(packages: Iterable[str]) -> str:
    """'name version' for each installed distribution (no imports), e.g. 'torch 2.13.0, ctranslate2 4.8.5'."""
    out = []
    for name in packages:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def machine_summary() -> str:
    """One line: CPUs, CPU model, RAM, Python."""
    return (f"{usable_cpus()} CPUs usable (nproc; {os.cpu_count()} online), {cpu_model()}, "
            f"{total_ram_gib():.1f} GiB RAM, Python {platform.python_version()}")


# ---------------------------------------------------------------------------- RESULTS.md


def _section_pattern(title: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(title)}\n(.*?)(?=^## |\Z)", re.MULTILINE | re.DOTALL)


def read_section(title: str, results: Path = RESULTS) -> str | None:
    """The body of the `title` section of RESULTS.md (None when there is none)."""
    match = _section_pattern(title).search(results.read_text()) if results.exists() else None
    return match.group(1).rstrip() if match else None


def write_section(title: str, body: str, results: Path = RESULTS, first: bool = False) -> None:
    """Replace the `title` section ('## …') of RESULTS.md, leaving the other sections as they are; a new
    section goes at the end, or right under the page title when `first` (a summary a reader sees first)."""
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    pattern = _section_pattern(title)
    block = f"{title}\n{body.rstrip()}\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    elif first and (heading := re.search(r"^# .*\n+", text, re.MULTILINE)):
        text = text[:heading.end()] + block + text[heading.end():]
    else:
        text = text.rstrip() + "\n\n" + block
    results.write_text(text.rstrip() + "\n")


# ---------------------------------------------------------------------------- headline figures


HEADLINE_HEADER = ("| headline | ratio | target | met? |", "|---|---|---|---|")
_BOUND = re.compile(r"^\s*(?P<op>[<>≤≥]=?)?\s*(?P<value>[0-9]*\.?[0-9]+)")


@dataclass(frozen=True)
class Headline:
    """One figure a bench is judged by: a ratio (or a time) as shown, its target ('≤ 0.33×'), and whether
    it is met (None: not measurable this run, e.g. a bound on the wrong side of the target)."""

    metric: str
    ratio: str
    target: str

    @property
    def met(self) -> bool | None:
        return judge(self.ratio, self.target)

    def row(self) -> str:
        return f"| {self.metric} | {self.ratio} | {self.target} | {met_text(self.met)} |"


def met_text(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: "n/a"}[met]


def headline_table(headlines: Iterable[Headline]) -> str:
    """The headline rows as a Markdown table (run_all.py reads it back from a bench's stdout)."""
    return "\n".join([*HEADLINE_HEADER, *(h.row() for h in headlines)])


def judge(shown: str, target: str) -> bool | None:
    """Whether a shown figure ('0.27×', '≤ 0.41×', '> 600 s') meets a target ('≤ 0.33×', '≥ 2×').

    A bound only decides when it lies on the right side: '≤ 0.2×' meets '≤ 0.33×', '≤ 0.5×' cannot tell.
    """
    figure, goal = _BOUND.match(shown.replace("−", "-")), _BOUND.match(target)
    if not figure or not goal or not goal.group("op"):
        return None
    value, limit = float(figure.group("value")), float(goal.group("value"))
    below = goal.group("op") in ("<", "<=", "≤")
    bound = figure.group("op") or ""
    if not bound:
        return value <= limit if below else value >= limit
    if (bound in ("<", "<=", "≤")) == below:  # a bound in the target's direction: decides only when inside
        return True if (value <= limit if below else value >= limit) else None
    return False if (value > limit if below else value < limit) else None


def times(numerator: float, denominator: float, bound: str = "") -> str:
    """'0.27×', or with a bound '≤ 0.27×' (a side that did not finish gives only a bound)."""
    return f"{bound + ' ' if bound else ''}{numerator / denominator:.2f}×"


def cli_command(*args: object) -> list[str]:
    """`whisper-tui ARGS` as this interpreter runs it (the console script calls the same core.cli.main)."""
    return [sys.executable, "-m", "core.cli", *(str(a) for a in args)]


def run_cli(log: Path, *args: object) -> None:
    """`whisper-tui ARGS` with its output in `log`; stops the bench with a pointer to the log if it fails."""
    print(f"  $ whisper-tui {' '.join(str(a) for a in args)}", flush=True)
    with open(log, "w") as handle:
        result = subprocess.run(cli_command(*args), cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): see {log}")


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_json(path: Path) -> dict:
    """A kept result ({} when there is none yet)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def save_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


# ---------------------------------------------------------------------------- child-process stats


@dataclass(frozen=True)
class ProcessStats:
    """What one child process (with its own children) cost."""

    returncode: int | None  # None: killed after the timeout
    wall_s: float  # spawn to exit
    cpu_s: float  # user + system over the child and the children it waited for
    peak_rss_mb: float  # max over samples of the whole tree's RSS sum (and at least the largest single process)
    samples: int

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def _tree_rss(root: object) -> int:
    """RSS in bytes of a psutil process and all its live descendants (processes that vanish count 0)."""
    import psutil

    assert isinstance(root, psutil.Process)
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def measure_process(cmd: Sequence[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None,
                    timeout_s: float | None = None, poll_s: float = 0.05, stdout: int | None = subprocess.DEVNULL,
                    stderr: int | None = subprocess.DEVNULL,
                    on_poll: Callable[[int], None] | None = None) -> ProcessStats:
    """Run `cmd` to completion, sampling the RSS of its whole process tree every `poll_s`.

    `on_poll(pid)` is called at every sample (a bench can signal the child from it, e.g. SIGINT once the run
    has shown what was measured).

    CPU time and the largest single-process RSS come from `os.wait4` on this child alone (the kernel folds
    in the grandchildren it reaped), so earlier children never leak into the numbers the way
    RUSAGE_CHILDREN would. On timeout the child's process group is killed and `returncode` is None.
    """
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    handle = psutil.Process(proc.pid)
    peak, samples, returncode = 0, 0, None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            returncode = os.waitstatus_to_exitcode(status)
            break
        peak = max(peak, _tree_rss(handle))
        samples += 1
        if on_poll is not None:
            on_poll(proc.pid)
        if timeout_s is not None and time.perf_counter() - start > timeout_s:
            os.killpg(proc.pid, signal.SIGKILL)
            _, _, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(poll_s)
    wall = time.perf_counter() - start
    proc.returncode = returncode if returncode is not None else -signal.SIGKILL  # already reaped: keep Popen quiet
    peak = max(peak, usage.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux
    return ProcessStats(returncode, wall, usage.ru_utime + usage.ru_stime, peak / 1024**2, samples)

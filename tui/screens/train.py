"""Screen 4, Train: the run's settings, start / stop / resume, and the run's steps and evaluations as they come.

The run is a `whisper-tui train` process of its own (core/train_process.py), so keys answer at once while it
trains, and quitting the TUI or losing the SSH connection leaves it going: reopening this screen follows it
again. `x` stops it with a checkpoint; `R` resumes the last stopped run.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, ProgressBar, Sparkline

from core import train_config
from core.errors import WhisperTuiError
from core.events import Done, Log, Metrics, Progress
from core.runs import finished, read_metrics, resumable, run_folders, running_pid, state
from core.train_config import TrainConfig, run_config
from core.train_process import TrainProcess
from core.vocabulary import load_keywords
from tui.jobs import JobEnded, JobEvent, progress_text
from tui.screens.base import WorkbenchScreen
from tui.widgets.lines import TextLine

# (TrainConfig field = input id, label, width of the input); values are read and shown through core.train_config
FIELDS: tuple[tuple[str, str, int], ...] = (
    ("model", "Model", 18), ("purpose", "Purpose", 10), ("epochs", "Epochs", 6), ("learning_rate", "LR", 9),
    ("batch_size", "Batch", 5), ("lora_r", "Rank", 5), ("lora_alpha", "Alpha", 5), ("target_modules", "Targets", 22),
)
# narrow enough for 100 columns beside the plots (DataTable pads each cell by one on both sides)
COLUMNS = (("step", 5), ("epoch", 5), ("loss", 6), ("lr", 8), ("e.loss", 6), ("WER", 6), ("drift", 6),
           ("recall", 6), ("best", 4))
BEST_MARK = "★"
OVER_GUARD = "✗"  # drifted more than the guard allows on held-out real speech: never chosen


def parse_form(values: dict[str, str], base: TrainConfig) -> TrainConfig:
    """A TrainConfig from the form's texts (field name → text); ValueError with a short reason for a bad field."""
    changes = {}
    for name, text in values.items():
        try:
            changes[name] = train_config.from_text(name, text)
        except ValueError as err:
            raise ValueError(f"{dict((f, label) for f, label, _ in FIELDS).get(name, name)}: {err}") from None
    if "target_modules" in changes and not changes["target_modules"]:
        raise ValueError("Targets: name at least one module (e.g. q_proj,v_proj)")
    if not changes.get("model", "x"):
        del changes["model"]  # a blank model keeps the workspace's
    config = replace(base, **changes)
    try:
        config.check()
    except WhisperTuiError as err:
        raise ValueError(str(err)) from None
    return config


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


class TrainScreen(WorkbenchScreen):
    """The run form, a progress bar with ETA, the live table of steps and evaluations, loss and recall plots."""

    NUMBER = 4
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "start", "Start", id="train.start"),
        Binding("x", "stop", "Stop (checkpoint)", id="train.stop"),
        Binding("R", "resume", "Resume", id="train.resume"),
        Binding("f", "focus_form", "Settings", id="train.form"),
        Binding("escape", "focus_table", "Table", id="train.table", show=False),
        Binding("e", "evaluate", "Evaluate", id="train.evaluate"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_dir: Path | None = None
        self.process: TrainProcess | None = None
        self._losses: list[float] = []
        self._recalls: list[float] = []
        self._best: tuple[float, str, str] | None = None  # (quality, row key, its own mark)
        self._rows = 0

    def compose_body(self) -> ComposeResult:
        defaults = train_config.defaults(model=self.workspace.model, language=self.workspace.language,
                                         purpose=self.workspace.purpose)
        with Vertical(id="train"):
            with Vertical(id="train-form"):
                for row in (FIELDS[:5], FIELDS[5:]):
                    with Horizontal(classes="form-row"):
                        for name, label, width in row:
                            yield Label(label)
                            field = Input(train_config.to_text(name, getattr(defaults, name)), id=name, compact=True)
                            field.styles.width = width
                            yield field
            with Horizontal(id="train-job"):
                yield ProgressBar(total=100, id="train-progress", show_eta=True)
                yield TextLine("no run yet", id="train-label")
            with Horizontal(id="train-main"):
                yield DataTable(id="train-rows", cursor_type="row", zebra_stripes=True)
                with Vertical(id="train-plots"):
                    yield TextLine("training loss", id="loss-title")
                    yield Sparkline([], id="loss-plot")
                    yield TextLine("keyword recall (evaluations)", id="recall-title")
                    yield Sparkline([], id="recall-plot")
                    yield TextLine("", id="train-best")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#train-rows", DataTable)
        for name, width in COLUMNS:
            table.add_column(name, key=name, width=width)
        table.focus()
        self._show_latest_run()

    # -- which run is shown

    def runs(self) -> list[Path]:
        """Run folders, newest first."""
        return run_folders(self.workspace.runs_dir)

    def _show_latest_run(self) -> None:
        runs = self.runs()
        for run_dir in runs:
            if running_pid(run_dir) is not None:
                self._load_history(run_dir)
                process = TrainProcess.attach(run_dir)
                if process is not None:
                    self._follow(process, f"following {run_dir.name} (still training)")
                return
        if runs:
            self._load_history(runs[0])
            shown = {"stopped": "stopped: R resumes it", "failed": "ended before its first checkpoint"}
            latest = state(runs[0])
            self._set_label(1.0 if latest == "finished" else 0.0, f"{runs[0].name}: {shown.get(latest, latest)}")
            self.say(f"showing {runs[0].name} · s starts a new run with the settings above")
        else:
            self.say("no run yet · s starts one with the settings above (the dataset comes from screen 3)")

    def _load_history(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._clear()
        for row in read_metrics(run_dir):
            values = {k: v for k, v in row.items() if k not in ("kind", "step", "epoch", "time")}
            self._add_row(Metrics(row.get("kind", "train"), int(row.get("step", 0)), float(row.get("epoch", 0)),
                                  values))

    def _clear(self) -> None:
        self.query_one("#train-rows", DataTable).clear()
        self._losses, self._recalls, self._best, self._rows = [], [], None, 0
        self.query_one("#loss-plot", Sparkline).data = []
        self.query_one("#recall-plot", Sparkline).data = []
        self.query_one("#train-best", TextLine).set("")

    # -- the table

    def _add_row(self, metrics: Metrics) -> None:
        table = self.query_one("#train-rows", DataTable)
        v = metrics.values
        self._rows += 1
        key = f"r{self._rows}"
        if metrics.kind == "eval":
            recall = v.get("keyword_recall")
            over = not v.get("within_guard", 1.0)
            cells = [str(metrics.step), f"{metrics.epoch:.2f}", "", "", _fmt(v.get("loss"), ".3f"),
                     _fmt(v.get("wer"), ".1%"), _fmt(v.get("drift"), ".1%"), _fmt(recall, ".0%"),
                     OVER_GUARD if over else ""]
            table.add_row(*(Text(c, style="bold") for c in cells), key=key)
            if recall is not None:
                self._recalls.append(recall)
                self.query_one("#recall-plot", Sparkline).data = list(self._recalls)
            quality = v.get("quality")
            if quality is not None and (self._best is None or quality > self._best[0]):
                if self._best is not None:  # the old best gets its own mark back
                    table.update_cell(self._best[1], "best", Text(self._best[2], style="bold"))
                self._best = (quality, key, cells[-1])
                table.update_cell(key, "best", Text(BEST_MARK, style="bold yellow"))
                recall_text = _fmt(recall, ".0%") or "n/a"
                self.query_one("#train-best", TextLine).set(
                    f"{BEST_MARK} best: step {metrics.step}\nrecall {recall_text} · WER {v.get('wer', 0):.1%}")
        else:
            loss = v.get("loss")
            table.add_row(str(metrics.step), f"{metrics.epoch:.2f}", _fmt(loss, ".3f"),
                          _fmt(v.get("learning_rate"), ".2e"), "", "", "", "", "", key=key)
            if loss is not None:
                self._losses.append(loss)
                self.query_one("#loss-plot", Sparkline).data = list(self._losses)
        if table.cursor_row >= table.row_count - 2:  # follow the newest row unless the user scrolled up
            table.move_cursor(row=table.row_count - 1)

    # -- actions

    def _form(self) -> dict[str, str]:
        return {name: self.query_one(f"#{name}", Input).value for name, *_ in FIELDS}

    def _config(self, run_dir: Path, resume: bool = False) -> TrainConfig | None:
        dataset = self.workspace.dataset_dir
        if not (dataset / "dataset_dict.json").is_file():
            self.say("no dataset yet: build it on screen 3 (press 3, then b)", "warning")
            return None
        try:
            keywords_file = self.workspace.keywords_path
            keywords = tuple(load_keywords(keywords_file)) if keywords_file.is_file() else ()
            form = self._form()
            # the purpose chosen here sets its defaults under the form's other fields (and is the workspace's now)
            purpose = train_config.from_text("purpose", form["purpose"])
            if purpose != self.workspace.purpose:
                self.workspace.purpose = purpose
                self.workspace.save()
            base = train_config.for_purpose(dataset=dataset, output=run_dir, keywords=keywords,
                                            language=self.workspace.language, task=self.workspace.task,
                                            purpose=purpose, resume=resume)
            return parse_form(form, base)
        except (ValueError, WhisperTuiError) as err:
            self.say(str(err), "error")
            return None

    def action_start(self) -> None:
        if self.job_name is not None:
            self.say("a run is already going: x stops it", "warning")
            return
        run_dir = self.workspace.runs_dir / time.strftime("run-%Y%m%d-%H%M%S")
        config = self._config(run_dir)
        if config is not None:
            self._launch(config, f"started {run_dir.name}")

    def action_resume(self) -> None:
        if self.job_name is not None:
            self.say("a run is already going", "warning")
            return
        stopped = next((r for r in self.runs() if resumable(r) and not finished(r)), None)
        if stopped is None:
            self.say("no stopped run to resume", "warning")
            return
        # the run's own settings (a restarted TUI's form shows the defaults); the form only for older runs
        config = run_config(stopped) or self._config(stopped, resume=True)
        if config is not None:
            self._load_history(stopped)
            self._launch(config, f"resuming {stopped.name} with the settings it started with")

    def _launch(self, config: TrainConfig, message: str) -> None:
        try:
            process = TrainProcess.start(config)
        except (WhisperTuiError, OSError) as err:
            self.say(f"cannot start training: {err}", "error")
            return
        if not config.resume:
            self._load_history(Path(config.output))
        self._follow(process, message)

    def _follow(self, process: TrainProcess, message: str) -> None:
        """Follow the run in a thread worker: cancelling its job (x) stops the run with a checkpoint; leaving the
        app detaches the job (`leave_job`): the run goes on, and a reopened screen follows it again."""
        self.process, self.run_dir = process, process.run_dir
        if self.start_job("train", lambda job: process.follow(job)):
            self._set_label(None, f"{process.run_dir.name}: loading the model and encoding rows…")
            self.say(f"{message} · x stops it with a checkpoint · it keeps going if you quit")

    def leave_job(self) -> None:
        self.detach_job()

    def action_stop(self) -> None:
        job = self.running_job
        if job is None:
            self.say("no run is going", "warning")
            return
        job.cancel()  # follow() asks the run to checkpoint and stop, and follows it until it has
        self.say("stopping after the current step (a checkpoint is saved; R resumes)…")

    def action_focus_form(self) -> None:
        self.query_one("#model", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#train-rows", DataTable).focus()

    def action_evaluate(self) -> None:
        self.wapp.action_show_screen(5)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    # -- job events

    def _set_label(self, fraction: float | None, label: str) -> None:
        self.show_job("train-progress", "train-label", fraction, label)

    def on_job_event(self, message: JobEvent) -> None:
        event = message.event
        if isinstance(event, Metrics):
            self._add_row(event)
        elif isinstance(event, Progress):
            fraction, label = progress_text(event)
            if event.stage == "train" and event.total:
                label = f"step {event.done:.0f}/{event.total:.0f}"
            self._set_label(fraction, label)
        elif isinstance(event, Log):
            self.say(event.message, "warning" if event.level == "warning" else "information")
        elif isinstance(event, Done):
            self._set_label(1.0, "done: merging and saving")

    def on_job_ended(self, message: JobEnded) -> None:
        name = self.run_dir.name if self.run_dir else "the run"
        outcome = message.result
        if not message.ok:
            self._set_label(0.0, f"{name}: {message.error}")
            self.say(f"training failed: {message.error}", "error")
        elif outcome.returncode is None:
            return  # detached (the app is closing): the run goes on
        elif outcome.finished:
            self._set_label(1.0, f"{name}: finished")
            self.say(f"{name} finished: merged model in {name}/merged · e opens the evaluation")
        elif outcome.stopped and not resumable(outcome.run_dir):
            self._set_label(0.0, f"{name}: stopped before its first checkpoint")
            self.say(f"{name} stopped before its first checkpoint: nothing to resume · s starts a run")
        elif outcome.stopped:
            self._set_label(0.0, f"{name}: stopped at a checkpoint")
            self.say(f"{name} stopped with a checkpoint · R resumes it")
        else:
            self._set_label(0.0, f"{name}: failed")
            self.say(f"training failed: {outcome.error}", "error")

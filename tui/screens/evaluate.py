"""Screen 5, Evaluate: baseline vs prompted vs fine-tuned on an evaluation set, overall and per keyword, the
reference beside a variant's re-transcription with its errors marked; export and push the run's model.

The numbers come from core/evaluate.py (the same report `whisper-tui evaluate -m RUN_DIR` writes into
RUN_DIR/evaluation/); an existing report is shown on open without re-running anything. The run picker's first
entry is the workspace's own model: before any run it answers "how bad is the base model on my words?"
(baseline and prompted rows, report in evaluations/base/).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Label, ProgressBar, Select, Static

from core.captions import format_timestamp
from core.errors import InputError
from core.evaluate import Comparison, WordMark, compare, evaluate, push_model, reference_captions, resolve_run
from core.events import Job, Log, Progress
from core.report import (
    BASELINE,
    FINE_TUNED,
    PROMPTED,
    Report,
    keyword_table,
    leaders,
    load_report,
    overall_table,
)
from core.runs import MERGED, evaluation_dir, finished_runs
from core.train import export_ct2
from core.vocabulary import Keyword, find_keywords
from core.workspace import Source
from tui.jobs import JobEnded, JobEvent, progress_text
from tui.screens.base import WorkbenchScreen
from tui.widgets.lines import TextLine

NO_JOB = "no job running"
KEYWORD_WIDTH = 16
SHORT_NAMES = {BASELINE: "base", PROMPTED: "prompt", FINE_TUNED: "tuned"}  # the keyword table's narrow headers
CANCELLABLE = {"evaluate"}  # export and push run to their end once started
BASE = "base-model"  # the run picker's value for the workspace's own model (a run's value is its path: no clash)


def fill_table(table: DataTable, headers: list[str], rows: list[list[Text]], keys: list[str] | None = None) -> int:
    """Replace a DataTable's columns and rows, each column as wide as its widest cell; returns the table's width.

    Widths are set here rather than left to DataTable's idle-time measuring, which left the columns at their
    label widths in a real terminal (seen in tmux, not under Pilot)."""
    table.clear(columns=True)
    widths = [max([len(h), *(row[i].cell_len for row in rows)]) for i, h in enumerate(headers)]
    for header, width in zip(headers, widths, strict=True):
        table.add_column(header, width=width, key=header)
    for n, row in enumerate(rows):
        table.add_row(*row, key=keys[n] if keys else None)
    return sum(widths) + 2 * table.cell_padding * len(widths)


class DiffView(Static):
    """Reference and hypothesis, one block per cue, words marked by the alignment and keywords in bold."""

    DEFAULT_CSS = """
    DiffView { width: 1fr; height: auto; }
    DiffView > .diff--substitute { background: $warning 35%; }
    DiffView > .diff--delete { background: $error 35%; text-style: strike; }
    DiffView > .diff--insert { background: $error 35%; }
    DiffView > .diff--keyword { color: $success; text-style: bold; }
    DiffView > .diff--label { color: $text-muted; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"diff--substitute", "diff--delete", "diff--insert", "diff--keyword",
                                             "diff--label"}

    def style(self, name: str) -> Style:
        return self.get_component_rich_style(f"diff--{name}", partial=True)

    def marked(self, text: str, marks: tuple[WordMark, ...], keywords: tuple[Keyword, ...]) -> Text:
        """`text` with its non-matching words and its keywords styled."""
        out = Text(text)
        for mark in marks:
            if mark.op != "equal":
                out.stylize(self.style(mark.op), mark.start, mark.end)
        for match in find_keywords(text, keywords):
            out.stylize(self.style("keyword"), match.start, match.end)
        return out

    def legend(self) -> Text:
        return Text.assemble(("substituted", self.style("substitute")), " ", ("deleted", self.style("delete")), " ",
                             ("inserted", self.style("insert")), " ", ("keyword", self.style("keyword")))

    def show(self, comparisons: list[Comparison], keywords: tuple[Keyword, ...], whole: bool) -> None:
        """One block per comparison: `#n start · error counts`, then the reference and hypothesis lines."""
        blocks: list[RenderableType] = []
        label = self.style("label")
        for c in comparisons:
            counts = ", ".join(f"{n} {what}" for what, n in (("sub", c.diff.count("substitute")),
                                                              ("del", c.diff.count("delete")),
                                                              ("ins", c.diff.count("insert"))) if n) or "no errors"
            where = "whole recording" if whole else f"#{c.index + 1} {format_timestamp(c.start)}"
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=3, style=label)
            grid.add_column(ratio=1)
            grid.add_row("ref", self.marked(c.reference, c.diff.reference, keywords))
            grid.add_row("hyp", self.marked(c.hypothesis, c.diff.hypothesis, keywords))
            blocks += [Text(f"{where} · {counts}", style=label + Style(bold=True)), grid]
        self.update(Group(*blocks) if blocks else Text("nothing to show", style=label))


class EvaluateScreen(WorkbenchScreen):
    """Pickers for the run and the evaluation set, the overall and keyword tables, and the text comparison."""

    NUMBER = 5
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "evaluate", "Evaluate", id="evaluate.run"),
        Binding("v", "variant", "Variant", id="evaluate.variant"),
        Binding("f", "filter", "Errors/all", id="evaluate.filter"),
        Binding("m", "pick_run", "Run", id="evaluate.pick_run"),
        Binding("s", "pick_set", "Set", id="evaluate.pick_set"),
        Binding("x", "export", "Export CT2", id="evaluate.export"),
        Binding("u", "push", "Push", id="evaluate.push"),
        Binding("r", "refresh", "Refresh", show=False, id="evaluate.refresh"),
        Binding("escape", "cancel_or_back", "Cancel job", id="evaluate.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.report: Report | None = None
        self.variant: str | None = None
        self.errors_only = True
        self.keyword_filter: str | None = None
        self._reference_problem: str | None = None
        self._comparisons: dict[str, list[Comparison]] = {}
        self._job_target: str | None = None  # the picker value the running job works on (the picker may move)

    # -- layout

    def compose_body(self) -> ComposeResult:
        runs = finished_runs(self.workspace.runs_dir)
        sources = self.eval_sources()
        with Vertical(id="evaluate"):
            with Horizontal(id="ev-pickers"):
                yield Label("Run")
                yield Select(self.run_options(runs), allow_blank=False, compact=True,
                             value=str(runs[0]) if runs else BASE, id="ev-run")
                yield Label("Set")
                yield Select(self.set_options(sources), prompt="no captioned source", compact=True,
                             value=self.default_set(sources) or Select.NULL, id="ev-set")
            with Horizontal(id="ev-job"):
                yield ProgressBar(total=100, id="ev-progress", show_eta=False)
                yield TextLine(NO_JOB, id="ev-job-label")
            with Horizontal(id="ev-push-row"):
                yield Label("Push to")
                yield Input(placeholder="Hub repo id (user/name)", compact=True, id="ev-push")
            yield TextLine("", id="ev-caption")
            yield DataTable(id="ev-overall", cursor_type="none", zebra_stripes=True)
            with Horizontal(id="ev-lower"):
                yield DataTable(id="ev-keywords", cursor_type="row", zebra_stripes=True)
                with Vertical(id="ev-diff-pane"):
                    yield TextLine("", id="ev-diff-title")
                    yield TextLine("", id="ev-legend")
                    with VerticalScroll(id="ev-diff-scroll"):
                        yield DiffView(id="ev-diff")

    def on_mount(self) -> None:
        super().on_mount()
        self.load_selected_report()
        self.query_one("#ev-keywords", DataTable).focus()

    # -- the pickers

    def eval_sources(self) -> list[Source]:
        """Sources that can be scored: audio and captions both present."""
        return [s for s in self.workspace.sources() if s.audio is not None and s.captions is not None]

    def run_options(self, runs: list[Path]) -> list[tuple[str, str]]:
        """The workspace's model first (always there), then the trained runs, newest first."""
        return [(f"base model ({self.workspace.model})", BASE), *((r.name, str(r)) for r in runs)]

    def set_options(self, sources: list[Source]) -> list[tuple[str, str]]:
        roles = self.workspace.roles()
        return [(s.stem + (" (validation)" if roles.get(s.stem) == "validation" else ""), s.stem) for s in sources]

    def default_set(self, sources: list[Source]) -> str | None:
        """The first `validation` source (what the workspace holds out for this), else the first one."""
        roles = self.workspace.roles()
        held_out = [s.stem for s in sources if roles.get(s.stem) == "validation"]
        return (held_out or [s.stem for s in sources] or [None])[0]

    def target(self) -> str:
        """The picker's value: BASE or a run folder's path."""
        value = self.query_one("#ev-run", Select).value
        return BASE if value is Select.NULL else str(value)

    def run_dir(self) -> Path | None:
        """The selected run, None when the base model is selected."""
        target = self.target()
        return None if target == BASE else Path(target)

    def report_dir(self, target: str) -> Path:
        """Where the report of a picker value lives (and where evaluating it writes)."""
        return self.workspace.base_evaluation_dir if target == BASE else evaluation_dir(Path(target))

    def target_name(self, target: str) -> str:
        return f"base model {self.workspace.model}" if target == BASE else Path(target).name

    def set_source(self) -> Source | None:
        value = self.query_one("#ev-set", Select).value
        return next((s for s in self.eval_sources() if s.stem == value), None)

    @on(Select.Changed, "#ev-run")
    def _run_changed(self) -> None:
        self.load_selected_report()

    @on(Select.Changed, "#ev-set")
    def _set_changed(self) -> None:
        self.show_caption()

    def action_pick_run(self) -> None:
        self.query_one("#ev-run", Select).focus()

    def action_pick_set(self) -> None:
        self.query_one("#ev-set", Select).focus()

    def action_refresh(self) -> None:
        """Re-read the runs and sources (a run finished training, captions were added) and the report."""
        target, stem = self.target(), self.query_one("#ev-set", Select).value
        runs = finished_runs(self.workspace.runs_dir)
        sources = self.eval_sources()
        run_select, set_select = self.query_one("#ev-run", Select), self.query_one("#ev-set", Select)
        run_select.set_options(self.run_options(runs))
        set_select.set_options(self.set_options(sources))
        run_select.value = target if target == BASE or Path(target) in runs else (str(runs[0]) if runs else BASE)
        if sources:
            set_select.value = stem if stem in {s.stem for s in sources} else self.default_set(sources)
        self.load_selected_report()

    # -- the report

    def load_selected_report(self) -> None:
        """Show the selected run's (or the base model's) evaluation report, if there is one (no model is loaded)."""
        target = self.target()
        folder, name = self.report_dir(target), self.target_name(target)
        report = None
        if (folder / "report.json").is_file():
            try:
                report = load_report(folder)
            except InputError as err:
                self.say(str(err), "warning")
        else:
            untrained = target == BASE and not finished_runs(self.workspace.runs_dir)
            later = " · no run yet: screen 4 trains one" if untrained else ""
            self.say(f"{name} not evaluated yet: press e to score it on the selected set{later}")
        self.show_report(report)
        if report is not None:
            self.say(f"{name}: report loaded · e re-evaluates · v switches the variant shown · "
                     "Enter on a keyword filters the cues")

    def show_report(self, report: Report | None) -> None:
        self.report = report
        self._comparisons.clear()
        self.keyword_filter = None
        names = [v.name for v in report.variants] if report else []
        if self.variant not in names:  # the fine-tuned model's errors, else the base model's own
            self.variant = next((n for n in (FINE_TUNED, BASELINE) if n in names), names[0] if names else None)
        self._reference_problem = None
        if report is not None:
            source = self.set_source()
            if source is not None and source.captions is not None and \
                    Path(report.main.captions).stem != source.stem:
                stems = {s.stem for s in self.eval_sources()}
                if Path(report.main.captions).stem in stems:
                    self.query_one("#ev-set", Select).value = Path(report.main.captions).stem
        self.show_caption()
        self.fill_overall()
        self.fill_keywords()
        self.show_diff()

    def show_caption(self) -> None:
        report, source = self.report, self.set_source()
        caption = Text()
        if report is None:
            caption.append("no report" if source is None else f"not evaluated on {source.stem} yet (e)",
                           style="dim")
        else:
            cues = len(report.variants[0].main.hypothesis.cues) if report.variants else 0
            caption.append(f"{report.main.name}: {cues} cues, {report.mode} mode, {len(report.keywords)} keywords, "
                           f"baseline {report.base_model}")
            if source is not None and Path(report.main.captions).stem != source.stem:
                caption.append(f" · report is for {report.main.name}: e evaluates {source.stem}", style="yellow")
            elif self.target() == BASE and report.base_model != self.workspace.model:
                caption.append(f" · report is for {report.base_model}: e evaluates {self.workspace.model}",
                               style="yellow")
        self.query_one("#ev-caption", TextLine).set(caption)

    def fill_overall(self) -> None:
        """The overall table without the model column (paths are long), best value per column in bold."""
        table = self.query_one("#ev-overall", DataTable)
        table.clear(columns=True)
        report = self.report
        if report is None:
            return
        headers, rows = overall_table(report)
        metric_of = {"WER": lambda v: v.main.scores.wer, "CER": lambda v: v.main.scores.cer,
                     "keyword recall": lambda v: v.main.scores.recall}
        for s in report.controls:
            metric_of[f"{s.name} WER"] = lambda v, name=s.name: v.on(name).scores.wer
        best = {h: leaders({v.name: get(v) for v in report.variants}, higher_is_better=h == "keyword recall")
                for h, get in metric_of.items()}
        keep = [i for i, h in enumerate(headers) if h != "model"]
        fill_table(table, [headers[i] for i in keep],
                   [[Text(row[i], style="bold green" if variant.name in best.get(headers[i], ()) else "",
                          justify="left" if i == 0 else "right") for i in keep]
                    for variant, row in zip(report.variants, rows, strict=True)])

    def fill_keywords(self) -> None:
        """Hits per keyword and variant on the main set; the most hits in a row in bold."""
        table = self.query_one("#ev-keywords", DataTable)
        table.clear(columns=True)
        report = self.report
        if report is None or not report.keywords:
            return
        headers, rows = keyword_table(report)
        names = [v.name for v in report.variants]
        cells = []
        for row in rows:
            best = leaders(dict(zip(names, (float(x) for x in row[2:]), strict=True)), higher_is_better=True)
            term = row[0] if len(row[0]) <= KEYWORD_WIDTH else row[0][:KEYWORD_WIDTH - 1] + "…"
            cells.append([Text(term, style="" if row[1] != "0" else "dim"), Text(row[1], justify="right"),
                          *(Text(hits, justify="right", style="bold green" if name in best else "")
                            for name, hits in zip(names, row[2:], strict=True))])
        short = [SHORT_NAMES.get(name, name) for name in names]
        width = fill_table(table, ["keyword", "ref", *short], cells, keys=[r[0] for r in rows])
        table.styles.width = width + 1  # room for the scrollbar when the list is long

    def comparisons(self) -> list[Comparison]:
        """The main set's comparisons for the current variant (computed once per variant)."""
        report, variant = self.report, self.variant
        if report is None or variant is None:
            return []
        if variant not in self._comparisons:
            try:
                reference = reference_captions(report)
            except InputError as err:
                self._reference_problem = str(err)
                return []
            english = (self.workspace.language or "en") == "en"
            self._comparisons[variant] = compare(report, variant, reference, english=english)
        return self._comparisons[variant]

    def show_diff(self) -> None:
        title = self.query_one("#ev-diff-title", TextLine)
        view = self.query_one("#ev-diff", DiffView)
        report = self.report
        if report is None or self.variant is None:
            title.set(Text("reference vs re-transcription: no report yet", style="dim"))
            self.query_one("#ev-legend", TextLine).set("")
            view.show([], (), False)
            return
        everything = self.comparisons()
        shown = [c for c in everything if c.diff.errors or not self.errors_only]
        if self.keyword_filter is not None:
            keyword = tuple(k for k in report.keywords if k.term == self.keyword_filter)
            shown = [c for c in shown if find_keywords(c.reference, keyword) or find_keywords(c.hypothesis, keyword)]
        differ = sum(1 for c in everything if c.diff.errors)
        line = Text.assemble("ref vs ", (self.variant, "bold"))
        if self.keyword_filter is not None:
            line.append(f" · {self.keyword_filter}", style="bold")
        line.append(f" · {differ}/{len(everything)} differ · {'errors only' if self.errors_only else 'all cues'}")
        line.no_wrap, line.overflow = True, "ellipsis"
        title.set(line)
        self.query_one("#ev-legend", TextLine).set(view.legend())
        if self._reference_problem:
            view.update(Text(self._reference_problem, style="yellow"))
            return
        view.show(shown, report.keywords, report.mode != "cues")

    # -- actions on the view

    def action_variant(self) -> None:
        if self.report is None or not self.report.variants:
            self.say("no report to switch variants in: press e to evaluate", "warning")
            return
        names = [v.name for v in self.report.variants]
        self.variant = names[(names.index(self.variant) + 1) % len(names)] if self.variant in names else names[0]
        self.show_diff()
        self.say(f"showing the {self.variant} re-transcription")

    def action_filter(self) -> None:
        self.errors_only = not self.errors_only
        self.show_diff()
        self.say("showing only cues with errors" if self.errors_only else "showing every cue")

    @on(DataTable.RowSelected, "#ev-keywords")
    def _keyword_selected(self, event: DataTable.RowSelected) -> None:
        term = str(event.row_key.value)
        self.keyword_filter = None if self.keyword_filter == term else term
        self.show_diff()
        self.say(f"cues that say {term} (Enter again shows all)" if self.keyword_filter else "keyword filter off")

    def action_cancel_or_back(self) -> None:
        row = self.query_one("#ev-push-row")
        if row.display:
            row.display = False
            self.query_one("#ev-keywords", DataTable).focus()
        elif self.job_name in CANCELLABLE and self.cancel_job():
            self.say("cancelling…")
        elif self.job_name is not None:
            self.say(f"{self.job_name} cannot be stopped midway; it finishes on its own", "warning")
        else:
            self.query_one("#ev-keywords", DataTable).focus()

    # -- jobs: evaluate, export, push

    def _selected_run(self) -> Path | None:
        """The run that export and push work on; the base model is no run (it ships already)."""
        run = self.run_dir()
        if run is None:
            self.say("export and push take a fine-tuned run: " + (
                "pick one with m" if finished_runs(self.workspace.runs_dir) else "train one on screen 4 first"),
                "warning")
        return run

    def action_evaluate(self) -> None:
        target, source = self.target(), self.set_source()
        if source is None or source.audio is None or source.captions is None:
            self.say("pick an evaluation set: a source with audio and captions", "warning")
            return
        try:
            keywords = self.workspace.keywords()
        except InputError as err:
            self.say(str(err), "error")
            return
        if target == BASE:  # the model against itself: one row pair, baseline and prompted
            model, baseline = self.workspace.model, self.workspace.model
        else:
            model, base = resolve_run(target)
            baseline = base or self.workspace.model
        audio, captions, language = source.audio, source.captions, self.workspace.language
        out_dir = self.report_dir(target)

        def work(job: Job) -> Report:  # a cancel lands after the batch being decoded
            return evaluate(model, audio, captions, keywords, baseline, mode="cues", out_dir=out_dir, job=job,
                            language=language)

        if self.start_job("evaluate", work):
            self._job_target = target
            self._show_progress(None, f"evaluating {self.target_name(target)} on {source.stem}…")

    def action_export(self) -> None:
        run = self._selected_run()
        if run is not None and self.start_job("export", lambda job: export_ct2(run)):
            self._show_progress(None, f"exporting {run.name} to CTranslate2…")

    def action_push(self) -> None:
        run = self._selected_run()
        if run is None:
            return
        push = self.query_one("#ev-push", Input)
        if not push.value:
            push.value = f"{self.workspace.name}-{run.name}".replace(" ", "-")
        self.query_one("#ev-push-row").display = True
        push.focus()
        self.say(f"Enter pushes {self._shown_path(run / MERGED)}/ (and the evaluation report) to this private "
                 "Hub repo · Esc closes")

    @on(Input.Submitted, "#ev-push")
    def _push_submitted(self, event: Input.Submitted) -> None:
        run, repo_id = self._selected_run(), event.value.strip()
        if run is None:
            return
        if not repo_id:
            self.say("type a Hub repo id (user/name) first", "warning")
            return
        self.query_one("#ev-push-row").display = False
        if self.start_job("push", lambda job: push_model(run, repo_id)):
            self._show_progress(None, f"pushing {run.name} to {repo_id}…")

    def _show_progress(self, fraction: float | None, label: str) -> None:
        self.show_job("ev-progress", "ev-job-label", fraction, label)

    def on_job_event(self, message: JobEvent) -> None:
        event = message.event
        if isinstance(event, Progress):
            fraction, label = progress_text(event)
            if event.total and event.unit not in ("s", "B"):  # clips or recordings
                label += f" · {event.done:.0f}/{event.total:.0f} {event.unit}"
            self._show_progress(fraction, label)
        elif isinstance(event, Log):
            self.say(event.message, "warning" if event.level == "warning" else "information")

    def on_job_ended(self, message: JobEnded) -> None:
        if not message.ok:
            self._show_progress(0.0, f"{message.job}: {message.error}")
            self.say_job_ended(message)
            return
        self._show_progress(1.0, f"{message.job}: done")
        if message.job == "evaluate":
            report: Report = message.result
            target = self._job_target or self.target()
            if target == self.target():
                self.show_report(report)
            self.say(f"evaluated {self.target_name(target)} on {report.main.name} in {report.seconds:.0f} s; "
                     f"report in {self._shown_path(self.report_dir(target))}/")
        elif message.job == "export":
            self.say(f"exported to {self._shown_path(Path(message.result))}/ (faster-whisper and CTranslate2 load it)")
        else:
            self.say(f"pushed: {message.result}")

    def _shown_path(self, path: Path) -> str:
        """A path relative to the workspace when it is inside it (shorter, and what the user recognises)."""
        for candidate in (path.absolute(), path.resolve()):  # a run's merged/ may be a link to elsewhere
            if candidate.is_relative_to(self.workspace.root):
                return str(candidate.relative_to(self.workspace.root))
        return str(path)

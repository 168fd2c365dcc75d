"""The `?` screen: every key of every screen, generated from the Bindings (and the user's keymap)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.screens import SCREENS


@dataclass(frozen=True)
class KeyRow:
    section: str
    keys: str
    description: str
    binding_id: str


def class_bindings(cls: type[DOMNode]) -> list[Binding]:
    """The bindings a class has, its own and inherited (a subclass's binding for the same key wins)."""
    by_key: dict[str, Binding] = {}
    for klass in reversed(cls.__mro__):
        raw: Iterable[BindingType] = klass.__dict__.get("BINDINGS", ())
        for item in raw:
            binding = item if isinstance(item, Binding) else Binding(*item)
            by_key[binding.key] = binding
    return list(by_key.values())


def _keys(app: App, binding: Binding, keymap: Mapping[str, str]) -> str:
    keys = keymap.get(binding.id or "", binding.key)
    return ", ".join(app.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))


def _rows(app: App, section: str, bindings: Iterable[Binding], keymap: Mapping[str, str]) -> list[KeyRow]:
    return [KeyRow(section, _keys(app, b, keymap), b.description or b.action.replace("_", " "), b.id or "")
            for b in bindings if not b.system]


def key_rows(app: App, keymap: Mapping[str, str]) -> list[KeyRow]:
    """Everywhere (app + any screen), then each numbered screen and the widgets it lists in HELP_WIDGETS."""
    from tui.screens.start import StartScreen

    rows = _rows(app, "Everywhere", [*class_bindings(type(app)), *class_bindings(Screen)], keymap)
    rows += _rows(app, "Start (no workspace yet)", [b for b in class_bindings(StartScreen)
                                                     if b not in class_bindings(Screen)], keymap)
    for number, spec in SCREENS.items():
        screen_cls = spec.load()
        section = f"{number} {spec.title}"
        own = [b for b in class_bindings(screen_cls) if b not in class_bindings(Screen)]
        rows += _rows(app, section, own, keymap) or [KeyRow(section, "", "no keys of its own yet", "")]
        for widget in getattr(screen_cls, "HELP_WIDGETS", ()):
            rows += _rows(app, f"{section} · {getattr(widget, 'HELP_TITLE', widget.__name__)}",
                          class_bindings(widget), keymap)
    return rows


def binding_ids(app_class: type[App]) -> set[str]:
    """Every binding id the keymap file may name (for warnings about typos). The app passes its own class, so this
    module never imports the app that imports it."""
    from tui.screens.start import StartScreen

    ids = {b.id for b in [*class_bindings(app_class), *class_bindings(Screen), *class_bindings(StartScreen)]
           if b.id}
    for spec in SCREENS.values():
        screen_cls = spec.load()
        ids |= {b.id for b in class_bindings(screen_cls) if b.id}
        for widget in getattr(screen_cls, "HELP_WIDGETS", ()):
            ids |= {b.id for b in class_bindings(widget) if b.id}
    return ids


class HelpScreen(ModalScreen[None]):
    """All keys, grouped by screen; Escape, q or ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 110; height: 90%; border: thick $accent;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close help", id="help.close")]

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        sections: dict[str, Table] = {}
        for row in key_rows(self.app, self.keymap):
            table = sections.get(row.section)
            if table is None:
                table = sections[row.section] = Table(
                    title=row.section, title_justify="left", title_style="bold underline", box=None, expand=True,
                    show_header=False, pad_edge=False)
                table.add_column("keys", style="bold", no_wrap=True, ratio=2)
                table.add_column("what it does", ratio=5)
                table.add_column("binding id", style="dim", ratio=3)
            table.add_row(row.keys, row.description, row.binding_id)
        with VerticalScroll():
            yield Static(Text.assemble(("Keys", "bold"), " — Escape closes. Columns: keys, what they do, the binding "
                                       "id to remap in ", (str(getattr(self.app, "keymap_file", "keymap.toml")), "i"),
                                       ' (e.g. "editor.undo" = "ctrl+z")'))
            yield Static(Group(*(item for table in sections.values() for item in (Text(""), table))))

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

"""The command palette's list of actions: the screens, and every key binding active where it was opened."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.screens import SCREENS


class ScreenActionsProvider(Provider):
    """Every binding (with a description) active on the calling screen, plus "Go to" each screen."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        commands: list[tuple[str, str, Callable[[], object]]] = []
        if getattr(app, "workspace", None) is not None:
            for number, spec in SCREENS.items():
                commands.append((f"Go to {number}: {spec.title}", f"key {number}",
                                 partial(app.run_action, f"show_screen({number})")))
        seen: set[tuple[int, str]] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if (binding.system or not binding.description or not active.enabled
                    or binding.action.startswith("show_screen") or (id(active.node), binding.action) in seen):
                continue
            seen.add((id(active.node), binding.action))
            commands.append((binding.description, f"key {app.get_key_display(binding) or key}",
                             partial(app.run_action, binding.action, active.node)))
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)

"""The command palette's list of console actions (ctrl+p): every key's action by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

# Textual's own keys worth listing; its others (focus, copy) need no help.
_TEXTUAL_ACTIONS = frozenset({"quit", "command_palette"})


def documented(node: object, action: str) -> bool:
    """Whether an action belongs to the console (or is one of Textual's worth listing)."""
    name = action.split(".")[-1].split("(")[0]
    if name in _TEXTUAL_ACTIONS:
        return True
    method = getattr(node, f"action_{name}", None)
    return getattr(method, "__module__", "").startswith("pgqueue_tui")


def _actions(screen: Screen[Any]) -> list[tuple[str, str, Callable[[], Any]]]:
    """(name, help, run) of the screen's and the app's bindings that can act now."""
    found: list[tuple[str, str, Callable[[], Any]]] = []
    seen: set[str] = set()
    app = screen.app
    for active in screen.active_bindings.values():
        binding = active.binding
        node = active.node
        if not binding.description or not active.enabled:
            continue
        if not documented(node, binding.action):
            continue
        if node is not screen and node is not app:
            continue
        if binding.description in seen:
            continue
        seen.add(binding.description)
        key = app.get_key_display(binding)
        where = "this screen" if node is screen else "everywhere"
        run = partial(node.run_action, binding.action)
        found.append((binding.description, f"key {key} · {where}", run))
    return sorted(found, key=lambda item: item[0].lower())


class ActionsProvider(Provider):
    """Lists what the keys do on the screen the palette was opened from, so that every
    action can be found by name as well as by key."""

    async def discover(self) -> Hits:
        for name, help_text, run in _actions(self.screen):
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in _actions(self.screen):
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)

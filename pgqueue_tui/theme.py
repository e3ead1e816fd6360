"""The console's two themes (dark and light terminals) and the colours that carry meaning."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from textual.theme import Theme

from pgqueue_core.models import Status

DARK = Theme(
    name="pgqueue-dark",
    primary="#5fa8d3",
    secondary="#a48fd8",
    accent="#e0a458",
    warning="#e5c07b",
    error="#ef6f7a",
    success="#8fc66f",
    foreground="#d7dae0",
    background="#16181d",
    surface="#1d2026",
    panel="#272b33",
    dark=True,
)

LIGHT = Theme(
    name="pgqueue-light",
    primary="#0b5cad",
    secondary="#6f42c1",
    accent="#9a4d00",
    warning="#8a5a00",
    error="#c4212f",
    success="#1a7f37",
    foreground="#1f2328",
    background="#fbfbfc",
    surface="#f1f3f5",
    panel="#e3e7eb",
    dark=False,
)

THEMES = (DARK, LIGHT)


def terminal_is_light(env: Mapping[str, str] | None = None) -> bool:
    """Whether the terminal says it has a light background (COLORFGBG="0;15" and alike).

    Terminals that set nothing get the dark theme; `PGQUEUE_THEME=light|dark` decides.
    """
    env = os.environ if env is None else env
    forced = env.get("PGQUEUE_THEME", "").strip().lower()
    if forced in ("light", "dark"):
        return forced == "light"
    background = env.get("COLORFGBG", "").split(";")[-1]
    return background in ("7", "15")


def default_theme(env: Mapping[str, str] | None = None) -> str:
    return (LIGHT if terminal_is_light(env) else DARK).name


@dataclass(frozen=True, slots=True)
class Palette:
    """Concrete colours of the current theme for Rich text in tables (CSS cannot reach it)."""

    error: str
    warning: str
    success: str
    primary: str
    secondary: str
    muted: str = "dim"

    @classmethod
    def of(cls, theme: Theme) -> Palette:
        fallback = DARK if theme.dark else LIGHT
        return cls(
            error=theme.error or str(fallback.error),
            warning=theme.warning or str(fallback.warning),
            success=theme.success or str(fallback.success),
            primary=theme.primary,
            secondary=theme.secondary or str(fallback.secondary),
        )

    def status(self, status: Status) -> str:
        """The style of a status name: problems in red/amber, work in progress in blue."""
        return {
            Status.NEW: "",
            Status.RETRY: self.warning,
            Status.RETAINED: self.primary,
            Status.RELEASED: self.success,
            Status.FAILED: f"bold {self.error}",
            Status.EXPIRED: self.warning,
            Status.CANCELLED: self.secondary,
        }[status]

    def attention(self, status: Status) -> str:
        """The style of a non-zero count that needs someone to look (failed, expired…)."""
        if status is Status.FAILED:
            return f"bold {self.error}"
        if status in (Status.EXPIRED, Status.RETRY):
            return f"bold {self.warning}"
        return ""

"""Small shared pieces of the panels: a message line that shows errors in words, never tracebacks."""
from __future__ import annotations

import html
import traceback

import ipywidgets as W

from ..errors import LandclassError

__all__ = ["Message", "guarded"]


class Message(W.HTML):
    """One line of feedback: ``ok``, ``info`` or ``error`` (red)."""

    COLORS = {"ok": "#1b7f3a", "info": "#444444", "error": "#b00020"}

    def show(self, text: str, kind: str = "info") -> None:
        self.value = (f'<span class="landclass-msg landclass-msg-{kind}" style="color:{self.COLORS[kind]}">'
                      f"{html.escape(text)}</span>") if text else ""

    def clear(self) -> None:
        self.value = ""


def guarded(message: Message, action, *args, **kwargs):
    """Run ``action``; show a :class:`LandclassError` (or any other error, in one line) in ``message``.

    Returns the action's result, or None when it failed.
    """
    try:
        return action(*args, **kwargs)
    except LandclassError as exc:
        message.show(str(exc), "error")
    except Exception as exc:  # an unexpected failure: one line in the UI, the traceback in the log
        traceback.print_exc()
        message.show(f"unexpected error: {type(exc).__name__}: {exc}", "error")
    return None

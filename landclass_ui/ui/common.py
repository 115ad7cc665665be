"""Small shared pieces of the panels: a message line that shows errors in words, never tracebacks; the log
file that keeps the tracebacks; and :class:`KernelLoop`, which hands widget changes from worker threads to the
kernel's event loop."""
from __future__ import annotations

import asyncio
import html
import logging
import os
import threading
from typing import Callable

import ipywidgets as W

from ..errors import LandclassError

__all__ = ["Message", "guarded", "KernelLoop", "LOG", "LOG_NAME", "log_to"]

#: The dashboard's logger; :func:`log_to` sends it to ``<workdir>/landclass.log``.
LOG = logging.getLogger("landclass")
LOG_NAME = "landclass.log"


def log_to(workdir: str | os.PathLike) -> str:
    """Append the dashboard's log (every unexpected error with its traceback) to ``<workdir>/landclass.log``;
    returns its path. Calling it again for the same folder adds no second handler."""
    path = os.path.abspath(os.path.join(workdir, LOG_NAME))
    LOG.setLevel(logging.INFO)
    if not any(getattr(h, "baseFilename", None) == path for h in LOG.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(message)s"))
        LOG.addHandler(handler)
        _dump_threads_on_signal(path)
    return path


_DUMP_FILES: list = []  # kept open for faulthandler (the logging handler's own stream may be closed and reopened)


def _dump_threads_on_signal(path: str) -> None:
    """``kill -USR1 <kernel pid>`` appends every thread's stack to the log (POSIX): how to see where a
    dashboard that seems stuck is waiting, without stopping it."""
    import faulthandler
    import signal

    if hasattr(signal, "SIGUSR1"):
        stream = open(path, "a", encoding="utf-8")  # open for the life of the process
        _DUMP_FILES.append(stream)
        faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True)


class KernelLoop:
    """Runs widget changes on the thread of the kernel's event loop.

    Created on that thread (while the notebook cell runs), it remembers the running loop. :meth:`call` from a
    worker thread hands the function to the loop (``loop.call_soon_threadsafe``: calls keep their order);
    on the loop's own thread, or where no loop runs (scripts, tests), it calls the function at once. Errors
    of a handed-over call go to :data:`LOG` and to ``on_error(one_line)``.
    """

    def __init__(self, on_error: Callable[[str], None] | None = None):
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        self.thread = threading.get_ident()
        self.on_error = on_error

    def call(self, fn: Callable, *args) -> None:
        if self.loop is None or threading.get_ident() == self.thread or self.loop.is_closed():
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(self._safe, fn, args)

    def _safe(self, fn, args) -> None:
        try:
            fn(*args)
        except Exception as exc:
            LOG.exception("updating the page failed")
            if self.on_error is not None:
                self.on_error(f"unexpected error: {type(exc).__name__}: {exc} (details in {LOG_NAME})")


class Message(W.HTML):
    """One line of feedback: ``ok``, ``info`` or ``error`` (red)."""

    COLORS = {"ok": "#1b7f3a", "info": "#444444", "error": "#b00020"}

    def show(self, text: str, kind: str = "info") -> None:
        self.value = (f'<span class="landclass-msg landclass-msg-{kind}" style="color:{self.COLORS[kind]}">'
                      f"{html.escape(text)}</span>") if text else ""

    def clear(self) -> None:
        self.value = ""

    @property
    def is_error(self) -> bool:
        """Whether the line shows an error."""
        return "landclass-msg-error" in self.value


def guarded(message: Message, action, *args, **kwargs):
    """Run ``action``; show a :class:`LandclassError` (or any other error, in one line) in ``message``.

    Returns the action's result, or None when it failed.
    """
    try:
        return action(*args, **kwargs)
    except LandclassError as exc:
        message.show(str(exc), "error")
    except Exception as exc:  # an unexpected failure: one line in the UI, the traceback in the log
        LOG.exception("unexpected error in %s", getattr(action, "__name__", action))
        message.show(f"unexpected error: {type(exc).__name__}: {exc} (details in {LOG_NAME})", "error")
    return None

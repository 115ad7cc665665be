"""Background work for the live map, without widgets: a queue that merges what is asked while it runs, and
a debounced call that runs once the asking pauses.

:class:`Worker` runs ``run(tasks)`` on one background thread at a time. Tasks (short names such as
``"image"``, ``"stack"``, ``"train"``) scheduled while it works are merged into its next pass: clicks are never
lost and never pile up. :class:`Debounced` runs ``fn(*args)`` ``delay`` seconds after the last call; a newer
call cancels the pending one (the accuracy assessment follows a run of clicks once they pause).

Errors never escape a thread silently: they go to ``on_error(exc, what)``; the app shows them on the page and
writes them to its log.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["Worker", "Debounced"]


class Worker:
    """One background thread at a time running ``run(tasks)`` over the merged pending tasks.

    Parameters
    ----------
    run : callable
        ``run(tasks: set[str])``; may schedule more work (it runs in the next pass).
    on_error : callable
        ``on_error(exc, tasks)`` for an exception raised by ``run``; the worker goes on with later work.
    name : str
        Thread name (shows in logs and debuggers).

    Examples
    --------
    >>> seen = []
    >>> w = Worker(lambda tasks: seen.append(sorted(tasks)), on_error=print)
    >>> w.schedule("train", "stack"); w.wait_idle(5)
    >>> seen
    [['stack', 'train']]
    """

    def __init__(self, run: Callable[[set[str]], None], *, on_error: Callable[[BaseException, set[str]], None],
                 name: str = "landclass-worker"):
        self._run = run
        self._on_error = on_error
        self._name = name
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._busy = False

    @property
    def busy(self) -> bool:
        """True while a pass runs or work is queued."""
        return self._busy

    def pending(self, *tasks: str) -> bool:
        """True when any of ``tasks`` is queued for the next pass (a pass can skip work that the next one
        redoes anyway)."""
        with self._lock:
            return bool(self._pending.intersection(tasks))

    def schedule(self, *tasks: str) -> None:
        """Queue ``tasks``; start the thread unless it runs (then they join its next pass)."""
        with self._lock:
            self._pending.update(tasks)
            if self._busy:
                return
            self._busy = True
        threading.Thread(target=self._loop, daemon=True, name=self._name).start()

    def _loop(self) -> None:
        while True:
            with self._lock:
                todo, self._pending = self._pending, set()
                if not todo:
                    self._busy = False
                    return
            try:
                self._run(todo)
            except Exception as exc:  # reported, and the worker lives on for the next edit
                self._on_error(exc, todo)

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Block until nothing runs or is queued.

        Raises
        ------
        TimeoutError
            Still busy after ``timeout`` seconds.
        """
        _wait(lambda: self._busy, timeout, "the worker")


class Debounced:
    """Call ``fn(*args)`` on a background thread ``delay`` seconds after the last :meth:`call`.

    A newer call cancels a pending one, including one whose timer fired but which has not started yet; calls
    never overlap (one runs at a time). Errors go to ``on_error(exc)``.

    Examples
    --------
    >>> got = []
    >>> d = Debounced(got.append, 0.05, on_error=print)
    >>> for i in range(5):
    ...     d.call(i)
    >>> d.wait(5); got
    [4]
    """

    def __init__(self, fn: Callable[..., None], delay: float, *, on_error: Callable[[BaseException], None]):
        self.fn = fn
        self.delay = delay
        self._on_error = on_error
        self._timer: threading.Timer | None = None
        self._generation = 0
        self._lock = threading.Lock()  # one call at a time
        self._state = threading.Lock()

    def call(self, *args) -> None:
        """Schedule ``fn(*args)`` in :attr:`delay` seconds, replacing any pending call."""
        with self._state:
            self._generation += 1
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._fire, args=(self._generation, args))
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        """Drop the pending call, if any (a running one finishes)."""
        with self._state:
            self._generation += 1
            if self._timer is not None:
                self._timer.cancel()

    def _fire(self, generation: int, args: tuple) -> None:
        with self._lock:
            if generation != self._generation:
                return  # a newer call came meanwhile; it runs in its turn
            try:
                self.fn(*args)
            except Exception as exc:
                self._on_error(exc)

    @property
    def pending(self) -> bool:
        """True while a call waits for its delay or runs."""
        timer = self._timer
        return timer is not None and timer.is_alive()

    def wait(self, timeout: float = 120.0) -> None:
        """Block until no call is pending or running.

        Raises
        ------
        TimeoutError
        """
        _wait(lambda: self.pending, timeout, "the debounced call")


def _wait(busy: Callable[[], bool], timeout: float, what: str, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while busy():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} is still busy after {timeout} s")
        time.sleep(poll)


"""The live map's background work (landclass_ui.worker), tested without widgets: merged passes, nothing
lost, errors reported, debounce and cancellation."""
from __future__ import annotations

import threading
import time

import pytest

from landclass_ui.worker import Debounced, Worker


def test_work_queued_during_a_pass_is_merged_into_the_next_one():
    started, release = threading.Event(), threading.Event()
    passes = []

    def run(tasks):
        passes.append(sorted(tasks))
        if len(passes) == 1:
            started.set()
            release.wait(5)

    w = Worker(run, on_error=lambda exc, tasks: None)
    w.schedule("image")
    assert started.wait(5)
    for task in ("train", "train", "polygons", "train"):  # clicks while the first pass runs
        w.schedule(task)
    assert w.busy
    release.set()
    w.wait_idle(5)
    assert passes == [["image"], ["polygons", "train"]]
    assert not w.busy


def test_one_thread_at_a_time():
    running, overlap = [0], []
    lock = threading.Lock()

    def run(tasks):
        with lock:
            running[0] += 1
            overlap.append(running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1

    w = Worker(run, on_error=lambda exc, tasks: None)
    for i in range(30):
        w.schedule(f"t{i % 3}")
        time.sleep(0.002)
    w.wait_idle(10)
    assert overlap and max(overlap) == 1


def test_an_error_is_reported_and_the_worker_lives_on():
    errors, done = [], []

    def run(tasks):
        if "bad" in tasks:
            raise ValueError("broken band")
        done.append(tasks)

    w = Worker(run, on_error=lambda exc, tasks: errors.append((type(exc).__name__, str(exc), sorted(tasks))))
    w.schedule("bad")
    w.wait_idle(5)
    w.schedule("good")
    w.wait_idle(5)
    assert errors == [("ValueError", "broken band", ["bad"])]
    assert done == [{"good"}]


def test_wait_idle_times_out_while_busy():
    release = threading.Event()
    w = Worker(lambda tasks: release.wait(5), on_error=lambda exc, tasks: None)
    w.schedule("slow")
    with pytest.raises(TimeoutError, match="still busy"):
        w.wait_idle(0.1)
    release.set()
    w.wait_idle(5)


def test_debounced_runs_once_with_the_last_arguments_after_the_pause():
    got = []
    d = Debounced(lambda *a: got.append((a, time.monotonic())), 0.15, on_error=lambda exc: None)
    start = time.monotonic()
    for i in range(5):
        d.call(i, "x")
        time.sleep(0.02)
    assert d.pending
    d.wait(5)
    assert [a for a, _ in got] == [(4, "x")]
    assert got[0][1] - start >= 0.15 + 4 * 0.02 - 0.01  # after the last call's delay, not the first's
    assert not d.pending


def test_debounced_cancel_drops_the_pending_call():
    got = []
    d = Debounced(got.append, 0.05, on_error=lambda exc: None)
    d.call(1)
    d.cancel()
    time.sleep(0.2)
    assert got == []
    d.call(2)
    d.wait(5)
    assert got == [2]


def test_debounced_calls_do_not_overlap_and_errors_are_reported():
    active, seen, errors = [0], [], []
    lock = threading.Lock()

    def fn(i):
        with lock:
            active[0] += 1
            seen.append(active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        if i == 1:
            raise RuntimeError("assessment failed")

    d = Debounced(fn, 0.0, on_error=lambda exc: errors.append(str(exc)))
    d.call(1)
    time.sleep(0.01)  # the first runs; a second call fires while it runs and waits its turn
    d.call(2)
    d.wait(5)
    time.sleep(0.1)
    assert max(seen) == 1
    assert errors == ["assessment failed"]


def test_pending_tells_a_pass_what_the_next_one_redoes():
    started, go, seen = threading.Event(), threading.Event(), []

    def run(tasks):
        if tasks == {"view"}:
            started.set()
            go.wait(5)
        seen.append((sorted(tasks), w.pending("train"), w.pending("image")))

    w = Worker(run, on_error=print)
    w.schedule("view")
    assert started.wait(5)
    w.schedule("train")  # a click while the first pass runs
    go.set()
    w.wait_idle(5)
    assert seen == [(["view"], True, False), (["train"], False, False)]

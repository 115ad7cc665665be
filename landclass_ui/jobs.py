"""Exports as processes of their own: SEPAL's task list, which survives closing the browser.

Under voila, closing the tab shuts the kernel down, and a thread of the kernel dies with it. So the dashboard
starts each export as a separate Python process (``python -m landclass_ui.jobs <task folder>``, in a session
of its own: the kernel's shutdown signals its process group, not this one), which runs
:func:`landclass_ui.pipeline.run` on a snapshot of the recipe and writes what it is doing to its task folder.
A new page (another kernel) finds the tasks there again: :func:`list_tasks`.

A task folder, ``<workdir>/tasks/<id>/``::

    recipe.json    the recipe as it was when the export started (editing goes on meanwhile)
    options.json   ExportOptions: output path, which outputs, scale, accuracy options
    status.json    TaskStatus, rewritten atomically as the export goes (at most every 0.5 s)
    cancel         present when the user asked to cancel (the process checks it every 0.2 s)
    task.log       the process's log: messages, and the traceback of an unexpected error

A task whose process is gone without saying it finished (killed, the machine restarted) is listed as failed.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ._files import atomic_write_text
from .errors import Cancelled, LandclassError, RecipeError
from .recipe import Recipe, TrainingRef

__all__ = ["ExportOptions", "TaskStatus", "start_export", "list_tasks", "read_task", "cancel_task",
           "run_task", "tasks_dir"]

LOG = logging.getLogger("landclass")

#: States of a task; ``running`` is the only one that changes.
STATES = ("running", "done", "failed", "cancelled")

#: Seconds between two progress writes of a running task.
PROGRESS_EVERY = 0.5

# the processes this kernel started: polled so that a finished one is reaped (no zombie) and its end noticed
_CHILDREN: dict[str, subprocess.Popen] = {}


@dataclass
class ExportOptions:
    """What an export writes (the Export panel's choices; :func:`landclass_ui.pipeline.run`'s arguments).

    ``output`` is the class map's path; ``scale`` the output pixel size in the image CRS's units (metres for a
    projected CRS; None: the image's own); ``reference`` an independent reference sample
    (:class:`~landclass_ui.recipe.TrainingRef` as a dict); ``model_recipe`` another recipe's JSON whose
    classifier (fitted on its own image and training data) classifies this recipe's images instead
    (:func:`landclass_ui.pipeline.apply_recipe`; no accuracy assessment then)."""

    output: str
    probability: bool = True
    class_probabilities: bool = False
    scale: float | None = None
    validation_ratio: float | None = None
    reference: dict | None = None
    model_recipe: str | None = None


@dataclass
class TaskStatus:
    """A task as its folder tells it. ``done``/``total`` are pixels classified; times are Unix seconds."""

    id: str
    name: str
    state: str = "running"
    output: str = ""
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    outputs: list[str] = field(default_factory=list)
    message: str = ""
    pid: int | None = None

    @property
    def progress(self) -> float:
        """Share done, 0-1."""
        return 1.0 if self.state == "done" else (self.done / self.total if self.total else 0.0)

    @property
    def seconds(self) -> float:
        """Seconds since it started, or that it took."""
        return (self.finished or time.time()) - self.started


def tasks_dir(workdir: str | os.PathLike) -> Path:
    """``<workdir>/tasks``: one folder per task."""
    return Path(workdir) / "tasks"


def _write_status(folder: Path, status: TaskStatus) -> None:
    atomic_write_text(folder / "status.json", json.dumps(dataclasses.asdict(status), indent=1))


def read_task(folder: str | os.PathLike) -> TaskStatus:
    """The status of the task in ``folder``; a running task whose process has ended without a word is
    reported as failed (and so written)."""
    folder = Path(folder)
    status = _load_status(folder)
    child = _CHILDREN.get(status.id)
    if status.state != "running" and child is not None and child.poll() is not None:
        del _CHILDREN[status.id]  # ended and reaped: no zombie left behind
    if status.state == "running" and not _alive(status.id, status.pid):
        time.sleep(0.2)  # it may have written its end just now
        status = _load_status(folder)
        if status.state == "running":
            status.state, status.finished = "failed", time.time()
            status.message = (f"the export process ended without finishing (stopped or killed); nothing was "
                              f"written to {status.output}; see {folder / 'task.log'}")
            _write_status(folder, status)
    return status


def _load_status(folder: Path) -> TaskStatus:
    """The task's status file, or a failed status saying why it cannot be read."""
    try:
        return TaskStatus(**json.loads((folder / "status.json").read_text()))
    except (OSError, ValueError, TypeError) as exc:
        return TaskStatus(id=folder.name, name=folder.name, state="failed",
                          message=f"the task's status cannot be read ({exc})")


def _alive(task_id: str, pid: int | None) -> bool:
    child = _CHILDREN.get(task_id)
    if child is not None:
        return child.poll() is None
    if pid is None:
        return True  # the process has not written its pid yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has that pid now
        return False
    return True


def list_tasks(workdir: str | os.PathLike) -> list[TaskStatus]:
    """Every task of ``workdir``, newest first."""
    root = tasks_dir(workdir)
    if not root.is_dir():
        return []
    folders = [f for f in root.iterdir() if (f / "options.json").exists()]
    return sorted((read_task(f) for f in folders), key=lambda s: s.started, reverse=True)


def start_export(workdir: str | os.PathLike, recipe: Recipe, options: ExportOptions) -> TaskStatus:
    """Start exporting ``recipe`` as ``options`` say in a process of its own; returns the new task.

    The process lives on when the caller (a notebook kernel) ends. ``options.output``'s folder is created.

    Raises
    ------
    RecipeError
        The output folder cannot be created or the task folder written.
    """
    task_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    folder = tasks_dir(workdir) / task_id
    try:
        folder.mkdir(parents=True)
        Path(options.output).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecipeError(f"cannot start the export: {exc}") from exc
    recipe.save(folder / "recipe.json")
    atomic_write_text(folder / "options.json", json.dumps(dataclasses.asdict(options), indent=1))
    status = TaskStatus(id=task_id, name=recipe.name, output=options.output)
    _write_status(folder, status)
    with open(folder / "task.log", "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "landclass_ui.jobs", str(folder)], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True)
    _CHILDREN[task_id] = child
    return status


def cancel_task(workdir: str | os.PathLike, task_id: str) -> None:
    """Ask the running task ``task_id`` to stop: it removes what it started writing and ends as cancelled."""
    folder = tasks_dir(workdir) / task_id
    if folder.is_dir():
        (folder / "cancel").touch()


def run_task(folder: str | os.PathLike) -> int:
    """Run the export of the task in ``folder`` (in the task's own process: ``python -m landclass_ui.jobs``).

    Returns 0 when done, 1 when it failed, 2 when cancelled; the status file says the same, with the outputs
    or the error in one line (and the traceback of an unexpected error in ``task.log``)."""
    from .pipeline import apply_recipe, run

    folder = Path(folder)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    status = read_task(folder)
    status.pid = os.getpid()
    _write_status(folder, status)
    cancel = threading.Event()
    stop = threading.Event()

    def watch():
        while not stop.wait(0.2):
            if (folder / "cancel").exists():
                cancel.set()
                return

    threading.Thread(target=watch, name="landclass-task-cancel", daemon=True).start()
    last = [0.0]

    def on_progress(done: int, total: int) -> None:
        status.done, status.total = done, total
        if time.monotonic() - last[0] >= PROGRESS_EVERY or done == total:
            last[0] = time.monotonic()
            _write_status(folder, status)

    code = 1
    try:
        options = ExportOptions(**json.loads((folder / "options.json").read_text()))
        recipe = Recipe.load(folder / "recipe.json")
        reference = TrainingRef(**options.reference) if options.reference else None
        if options.model_recipe:  # another recipe's classifier on this recipe's images
            start = time.monotonic()
            paths = apply_recipe(Recipe.load(options.model_recipe), recipe.images, options.output,
                                 probability=options.probability, class_probabilities=options.class_probabilities,
                                 scale=options.scale, progress=False, on_progress=on_progress, cancel=cancel,
                                 log=lambda m: LOG.info("%s", m))
            outputs = [paths.classification, paths.legend_csv, paths.probability, paths.class_probability,
                       *paths.legend_files]
            seconds = time.monotonic() - start
        else:
            result = run(recipe, options.output, probability=options.probability,
                         class_probabilities=options.class_probabilities, scale=options.scale, progress=False,
                         on_progress=on_progress, validation_ratio=options.validation_ratio, reference=reference,
                         cancel=cancel, log=lambda m: LOG.info("%s", m))
            outputs = [result.classification, result.legend_csv, result.probability, result.class_probability,
                       result.areas_csv, *result.legend_files]
            if result.assessment is not None:
                outputs.append(result.assessment.results_md)
            seconds = result.seconds
        status.state, status.outputs, code = "done", [o for o in outputs if o], 0
        status.message = f"wrote {len(status.outputs)} file(s) in {seconds:.1f} s"
    except Cancelled as exc:
        status.state, status.message, code = "cancelled", str(exc), 2
    except LandclassError as exc:
        status.state, status.message = "failed", str(exc)
    except Exception as exc:  # never a traceback in the task list: one line there, the details in task.log
        LOG.exception("the export failed")
        status.state = "failed"
        status.message = f"unexpected error: {type(exc).__name__}: {exc} (details in {folder / 'task.log'})"
    finally:
        stop.set()
        status.finished = time.time()
        _write_status(folder, status)
    LOG.info("%s: %s", status.state, status.message)
    return code


if __name__ == "__main__":
    from ._allocator import keep_freed_memory

    keep_freed_memory()  # this process classifies a scene and ends: freed windows are reused (issue 11)
    sys.exit(run_task(sys.argv[1]))

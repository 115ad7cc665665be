"""Export panel and task list (SEPAL's retrieve panel and task list).

Export starts the export of a snapshot of the recipe as a process of its own (:mod:`landclass_ui.jobs`): it goes
on when the page is closed or the kernel restarts, and the task list of a new page shows it again, running or
ended, with its progress, time, outputs or error, and a Cancel button while it runs (a cancelled export leaves
nothing behind). Outputs go to ``<workdir>/downloads/<recipe name>/`` unless another path is given.
"""
from __future__ import annotations

import dataclasses
import html
import threading
import time
from pathlib import Path
from typing import Callable

import ipywidgets as W

from ..errors import LandclassError
from ..jobs import ExportOptions, TaskStatus, cancel_task, list_tasks, start_export
from ..recipe import Recipe, TrainingRef
from ..store import RecipeStore
from ..training import read_ref
from .common import LOG, LOG_NAME, Message

__all__ = ["ExportPanel", "downloads_dir"]

#: Seconds between two looks at the running tasks' status files.
POLL_EVERY = 0.3

#: How a task's state reads in the list, and its colour.
STATE_TEXT = {"running": ("running", "#1f6fb2"), "done": ("done", "#237a2f"), "failed": ("failed", "#b00020"),
              "cancelled": ("cancelled", "#666666")}


def downloads_dir(workdir: str | Path, recipe_name: str) -> Path:
    """Where a recipe's exports go by default: ``<workdir>/downloads/<recipe name>/`` (SEPAL's downloads
    folder, one folder per recipe)."""
    return Path(workdir) / "downloads" / recipe_name


def _duration(seconds: float) -> str:
    """
    >>> _duration(5.04), _duration(75), _duration(3725)
    ('5.0 s', '1 min 15 s', '1 h 2 min')
    """
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


class TaskRow:
    """One task in the list: what, state, progress, time, outputs or error; Cancel while it runs."""

    def __init__(self, task_id: str, on_cancel: Callable[[str], None]):
        self.id = task_id
        self.text = W.HTML()
        self.text.add_class("landclass-task-text")
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="200px"))
        self.cancel = W.Button(description="Cancel", icon="stop", layout=W.Layout(width="90px"),
                               tooltip="stop this export; nothing it would have written is kept")
        self.cancel.add_class("landclass-task-cancel")
        self.cancel.on_click(lambda _: on_cancel(self.id))
        self.widget = W.VBox([self.text, W.HBox([self.progress, self.cancel])],
                             layout=W.Layout(border_bottom="1px solid #ddd", padding="2px 0"))
        self.widget.add_class("landclass-task")
        self.widget.add_class(f"landclass-task-{task_id}")

    def show(self, task: TaskStatus) -> None:
        state, colour = STATE_TEXT.get(task.state, (task.state, "#000"))
        lines = [f"<b>{html.escape(task.name)}</b> &mdash; <span style='color:{colour}'>{state}</span>"
                 f"{f' {task.progress:.0%}' if task.state == 'running' else ''}, {_duration(task.seconds)}"]
        if task.state == "done" and task.outputs:
            folder = Path(task.outputs[0]).parent
            lines.append(f"in {html.escape(str(folder))}: " + ", ".join(
                html.escape(str(Path(o).relative_to(folder)) if Path(o).parent == folder else o)
                for o in task.outputs))
        elif task.message:
            lines.append(f"<span style='color:{colour}'>{html.escape(task.message)}</span>")
        else:
            lines.append(html.escape(task.output))
        self.text.value = ("<div style='line-height:1.3;font-size:12px;overflow-wrap:anywhere'>"
                           + "<br>".join(lines) + "</div>")
        self.progress.value = task.progress
        self.progress.bar_style = {"done": "success", "failed": "danger"}.get(task.state, "")
        self.cancel.disabled = task.state != "running"
        self.cancel.layout.display = "" if task.state == "running" else "none"
        self.widget.remove_class("landclass-task-running")
        if task.state == "running":
            self.widget.add_class("landclass-task-running")


class ExportPanel:
    """Export options and the task list of ``workdir``'s exports.

    ``call`` runs a widget change on the kernel's event loop (see
    :class:`~landclass_ui.ui.common.KernelLoop`): the status files are read on a background thread.
    """

    def __init__(self, store: RecipeStore, workdir: str, *, call: Callable | None = None):
        self.store = store
        self.call = call or (lambda fn, *args: fn(*args))
        self.workdir = Path(workdir)
        self.output = W.Text(description="Output", layout=W.Layout(width="340px"),
                             placeholder="(default: downloads/<recipe name>/<recipe name>.tif)")
        self.probability = W.Checkbox(value=True, description="Probability layer (0-100)")
        self.class_probabilities = W.Checkbox(value=False, description="Per-class probability bands",
                                              tooltip="<stem>_class_probability.tif: one band per class, "
                                                      "'<class> %', 0-100")
        self.scale = W.Text(description="Scale (m)", layout=W.Layout(width="200px"), placeholder="image's",
                            tooltip="pixel size of the outputs in metres, coarser than the image's (classes "
                                    "resampled by mode, probabilities by average); empty: the image's pixels")
        self.scale.add_class("landclass-export-scale")
        self.validation = W.BoundedFloatText(value=0.0, min=0.0, max=0.9, step=0.1,
                                             description="Hold out", layout=W.Layout(width="200px"),
                                             tooltip="share of the training polygons kept for validation "
                                                     "(0: none); writes RESULTS.md and the confusion matrix")
        self.reference = W.Text(description="Reference", layout=W.Layout(width="340px"),
                                placeholder="(optional) independent reference points/polygons")
        self.reference_field = W.Text(value="class", description="Ref. field", layout=W.Layout(width="340px"))
        self.model_recipe = W.Text(description="Model of", layout=W.Layout(width="340px"),
                                   placeholder="(optional) another recipe's JSON",
                                   tooltip="classify this image with another recipe's classifier, fitted on that "
                                           "recipe's image and training data (same band names needed)")
        self.model_recipe.add_class("landclass-export-model-recipe")
        self.button = W.Button(description="Export COG", icon="file-export", button_style="primary",
                               tooltip="start the export as a task of its own: it goes on when the page closes")
        self.button.add_class("landclass-export")
        self.button.on_click(lambda _: self.start())
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True,
                                      tooltip="stop the last export started here; nothing it would have "
                                              "written is kept")
        self.cancel_button.add_class("landclass-export-cancel")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="340px"))
        self.progress.add_class("landclass-export-progress")
        self.message = Message()
        self.list = W.VBox()
        self.list.add_class("landclass-tasks")
        self.widget = W.VBox([self.output, self.probability, self.class_probabilities, self.scale,
                              W.HTML("<b>Accuracy</b> (optional)"), self.validation, self.reference,
                              self.reference_field, W.HTML("<b>Apply another recipe</b> (optional)"),
                              self.model_recipe, W.HBox([self.button, self.cancel_button]), self.progress,
                              self.message, W.HTML("<b>Tasks</b> (they go on when the page is closed)"),
                              self.list])
        self.rows: dict[str, TaskRow] = {}
        #: the task started last from this panel, and its latest status
        self.task: TaskStatus | None = None
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self.refresh()

    # --- starting and cancelling ---------------------------------------------------------------------------

    def target(self) -> str:
        """The class map's path: the Output field, or ``downloads/<recipe name>/<recipe name>.tif``."""
        name = self.store.recipe.name
        return self.output.value.strip() or str(downloads_dir(self.workdir, name) / f"{name}.tif")

    def options(self) -> ExportOptions:
        """The export options from the fields.

        Raises
        ------
        LandclassError
            A scale that is not a positive number; a reference file that cannot be read or lacks its class field
            (checked here, before a task starts); a "Model of" recipe that cannot be read or lacks bands.
        """
        text = self.scale.value.strip().lower().removesuffix("m").strip()
        try:
            scale = float(text) if text else None
        except ValueError:
            raise LandclassError(f"the scale must be a number of metres (e.g. 30), not {self.scale.value!r}; "
                                 "leave it empty for the image's pixels") from None
        if scale is not None and not (0 < scale < float("inf")):
            raise LandclassError(f"the scale must be a positive number of metres (e.g. 30), not {self.scale.value!r}; "
                                 "leave it empty for the image's pixels")
        path = self.reference.value.strip()
        reference = None
        if path:
            ref = TrainingRef("file", path=str(Path(path).expanduser().resolve()),
                              class_field=self.reference_field.value.strip() or None)
            try:
                read_ref(ref)  # a missing or unreadable file, a class field it lacks: said now, not by a failed task
            except LandclassError as exc:
                raise type(exc)(f"reference sample: {exc}") from None
            reference = dataclasses.asdict(ref)
        model_recipe = self.model_recipe.value.strip() or None
        if model_recipe:
            from ..pipeline import open_recipe_images
            from ..recipe import Recipe

            model_recipe = str(Path(model_recipe).expanduser().resolve())
            other = Recipe.load(model_recipe)  # a clear error for a missing or broken recipe
            mine = open_recipe_images(self.store.recipe).band_names
            theirs = open_recipe_images(other).band_names
            missing = [b for b in theirs if b not in mine]
            if missing:
                from ..errors import ImageError

                raise ImageError(f"this image lacks the band(s) {', '.join(missing)} of {other.name!r} (it has "
                                 f"{', '.join(mine)}); apply a recipe made on images with the same bands")
        return ExportOptions(output=str(Path(self.target()).expanduser().resolve()),
                             probability=self.probability.value,
                             class_probabilities=self.class_probabilities.value, scale=scale,
                             validation_ratio=self.validation.value or None, reference=reference,
                             model_recipe=model_recipe)

    def start(self) -> TaskStatus | None:
        """Start exporting a snapshot of the recipe as a task; None (and a message) when it cannot start."""
        try:
            options = self.options()
            running = [t for t in list_tasks(self.workdir) if t.state == "running" and t.output == options.output]
            if running:
                self.message.show(f"an export to {options.output} is already running: wait for it or cancel it "
                                  "in the task list", "info")
                return None
            recipe = Recipe.from_dict(self.store.recipe.to_dict())  # a snapshot: editing goes on meanwhile
            task = start_export(self.workdir, recipe, options)
        except LandclassError as exc:
            self.message.show(str(exc), "error")
            return None
        except Exception as exc:
            LOG.exception("starting an export failed")
            self.message.show(f"export failed to start: {type(exc).__name__}: {exc} (details in {LOG_NAME})",
                              "error")
            return None
        self.task = task
        self.cancel_button.disabled = False
        self.progress.value = 0
        self.message.show(f"exporting to {options.output} (a task: it goes on if the page is closed) ...", "info")
        self.refresh()
        return task

    def cancel(self, task_id: str | None = None) -> None:
        """Ask the task ``task_id`` (default: the last one started here) to stop."""
        task_id = task_id or (self.task.id if self.task is not None else None)
        if task_id is None:
            return
        cancel_task(self.workdir, task_id)
        if self.task is not None and task_id == self.task.id:
            self.cancel_button.disabled = True
            self.message.show("cancelling the export ...", "info")
        row = self.rows.get(task_id)
        if row is not None:
            row.cancel.disabled = True

    # --- the task list -------------------------------------------------------------------------------------

    def refresh(self) -> list[TaskStatus]:
        """Read the tasks now and show them; keep reading while any runs (a background thread)."""
        tasks = list_tasks(self.workdir)
        self.call(self._show_tasks, tasks)
        if any(t.state == "running" for t in tasks):
            with self._lock:
                if self._poller is None or not self._poller.is_alive():
                    self._poller = threading.Thread(target=self._poll, name="landclass-tasks", daemon=True)
                    self._poller.start()
        return tasks

    def _poll(self) -> None:
        while True:
            time.sleep(POLL_EVERY)
            try:
                tasks = list_tasks(self.workdir)
            except Exception:  # a status file half-copied by hand, a folder gone: try again
                LOG.exception("reading the task list")
                continue
            self.call(self._show_tasks, tasks)
            if not any(t.state == "running" for t in tasks):
                return

    def _show_tasks(self, tasks: list[TaskStatus]) -> None:
        for task in tasks:
            if task.id not in self.rows:
                self.rows[task.id] = TaskRow(task.id, self.cancel)
            self.rows[task.id].show(task)
        self.list.children = [self.rows[t.id].widget for t in tasks]
        mine = next((t for t in tasks if self.task is not None and t.id == self.task.id), None)
        if mine is None:
            return
        ended = self.task.state == "running" and mine.state != "running"
        self.task = mine
        self.progress.value = mine.progress
        if mine.state != "running":
            self.cancel_button.disabled = True
        if ended:
            if mine.state == "done":
                folder = Path(mine.outputs[0]).parent
                names = [Path(o).name if Path(o).parent == folder else o for o in mine.outputs]
                self.message.show(f"wrote {len(names)} files to {folder} in {_duration(mine.seconds)}: "
                                  f"{', '.join(names)}", "ok")
            else:
                self.message.show(mine.message, "error" if mine.state == "failed" else "info")

    def wait(self, timeout: float = 180.0) -> TaskStatus:
        """Block until the task started last from this panel ends, and show it (for scripts and tests).

        Raises
        ------
        TimeoutError
        """
        deadline = time.monotonic() + timeout
        while self.task is not None and time.monotonic() < deadline:
            tasks = list_tasks(self.workdir)
            mine = next((t for t in tasks if t.id == self.task.id), None)
            if mine is not None and mine.state != "running":
                self.call(self._show_tasks, tasks)
                return mine
            time.sleep(0.1)
        raise TimeoutError("the export did not end in time")

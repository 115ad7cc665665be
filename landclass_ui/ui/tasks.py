"""Export panel: write the full-resolution COG + legend CSV in the background, with a progress bar and a Cancel
button (a cancelled export leaves nothing behind)."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import ipywidgets as W

from ..errors import Cancelled, LandclassError
from ..pipeline import run
from ..recipe import Recipe, TrainingRef
from ..store import RecipeStore
from .common import LOG, LOG_NAME, Message

__all__ = ["ExportPanel"]


class ExportPanel:
    """Runs :func:`landclass_ui.pipeline.run` on a copy of the recipe in a worker thread."""

    def __init__(self, store: RecipeStore, workdir: str, *, call: Callable | None = None):
        self.store = store
        #: Runs a widget change on the kernel's event loop (see :class:`~landclass_ui.ui.common.KernelLoop`).
        self.call = call or (lambda fn, *args: fn(*args))
        self.workdir = Path(workdir)
        self.output = W.Text(description="Output", layout=W.Layout(width="340px"),
                             placeholder="(default: <recipe name>.tif in the work folder)")
        self.probability = W.Checkbox(value=True, description="Probability layer (0-100)")
        self.class_probabilities = W.Checkbox(value=False, description="Per-class probability bands",
                                              tooltip="<stem>_class_probability.tif: one band per class, "
                                                      "'<class> %', 0-100")
        self.validation = W.BoundedFloatText(value=0.0, min=0.0, max=0.9, step=0.1,
                                             description="Hold out", layout=W.Layout(width="200px"),
                                             tooltip="share of the training polygons kept for validation "
                                                     "(0: none); writes RESULTS.md and the confusion matrix")
        self.reference = W.Text(description="Reference", layout=W.Layout(width="340px"),
                                placeholder="(optional) independent reference points/polygons")
        self.reference_field = W.Text(value="class", description="Ref. field", layout=W.Layout(width="340px"))
        self.button = W.Button(description="Export COG", icon="file-export", button_style="primary")
        self.button.add_class("landclass-export")
        self.button.on_click(lambda _: self.start())
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True,
                                      tooltip="stop the export; nothing it would have written is kept")
        self.cancel_button.add_class("landclass-export-cancel")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.cancelled = threading.Event()
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="340px"))
        self.progress.add_class("landclass-export-progress")
        self.message = Message()
        self.widget = W.VBox([self.output, self.probability, self.class_probabilities,
                              W.HTML("<b>Accuracy</b> (optional)"), self.validation, self.reference,
                              self.reference_field, W.HBox([self.button, self.cancel_button]), self.progress,
                              self.message])
        self.thread: threading.Thread | None = None
        self.result = None

    def target(self) -> str:
        return self.output.value.strip() or str(self.workdir / f"{self.store.recipe.name}.tif")

    def start(self) -> threading.Thread | None:
        if self.thread is not None and self.thread.is_alive():
            self.message.show("an export is already running", "info")
            return None
        recipe = Recipe.from_dict(self.store.recipe.to_dict())  # a snapshot: editing goes on meanwhile
        output = self.target()
        self.button.disabled = True
        self.cancelled.clear()
        self.cancel_button.disabled = False
        self.progress.value = 0
        self.message.show(f"exporting to {output} ...", "info")
        self.thread = threading.Thread(target=self._work, args=(recipe, output), daemon=True)
        self.thread.start()
        return self.thread

    def cancel(self) -> None:
        """Stop the running export (at its next window): its temporary files are removed, nothing is written."""
        if self.thread is not None and self.thread.is_alive():
            self.cancelled.set()
            self.cancel_button.disabled = True
            self.message.show("cancelling the export ...", "info")

    def _work(self, recipe, output: str) -> None:
        try:
            path = self.reference.value.strip()
            reference = (TrainingRef("file", path=str(Path(path).expanduser().resolve()),
                                     class_field=self.reference_field.value.strip() or None) if path else None)
            self.result = run(recipe, output, probability=self.probability.value,
                              class_probabilities=self.class_probabilities.value, progress=False,
                              on_progress=lambda done, total: self.call(setattr, self.progress, "value",
                                                                        done / total),
                              validation_ratio=self.validation.value or None, reference=reference,
                              cancel=self.cancelled)
            written = [self.result.classification, self.result.legend_csv, self.result.probability,
                       self.result.class_probability]
            if self.result.assessment is not None:
                written.append(self.result.assessment.results_md)
            self.call(self.message.show, f"wrote {', '.join(w for w in written if w)} in "
                                         f"{self.result.seconds:.1f} s", "ok")
        except Cancelled as exc:
            self.call(self.message.show, str(exc), "info")
        except LandclassError as exc:
            self.call(self.message.show, str(exc), "error")
        except Exception as exc:
            LOG.exception("export to %s failed", output)
            self.call(self.message.show, f"export failed: {type(exc).__name__}: {exc} (details in {LOG_NAME})",
                      "error")
        finally:
            self.call(setattr, self.button, "disabled", False)
            self.call(setattr, self.cancel_button, "disabled", True)

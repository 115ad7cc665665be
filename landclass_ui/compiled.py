"""Compiled inference for tree ensembles: a fitted scikit-learn forest turned into C with treelite + tl2cgen.

Whole-scene classification spends its time in the trees. scikit-learn walks them in Cython but gathers and
sums the trees' class probabilities in NumPy, holding the GIL, so two threads do little better than one (on the
bundled scene's forest: 2.3 Mpx/s on one thread, 2.9 on two). The same forest compiled by tl2cgen (treelite's
code generator, gcc) predicts about 10 Mpx/s on two threads with the same probabilities (max. difference 0 on
4 M pixels of the bundled scene: the generated code sums the same leaf values in the same order, in float64).

:func:`compile_model` compiles random forests, extra trees, gradient boosting and histogram gradient boosting
(scikit-learn's), checks the compiled probabilities against scikit-learn's on sample pixels, and caches the
library by a hash of the fitted model (a second run of the same recipe compiles nothing). Where it cannot (another
classifier, no C compiler, treelite missing, a difference above 1e-6), the model is returned as it is and the
reason goes to the ``landclass`` log: scikit-learn predicts, as before.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import pickle
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from .model import TrainedModel

__all__ = ["CompiledEstimator", "compile_model", "COMPILABLE", "default_cache_dir"]

LOG = logging.getLogger("landclass")

#: scikit-learn estimators that treelite imports (``treelite.sklearn.import_model``); HistGradientBoostingClassifier
#: since treelite 3.2 (dmlc/treelite#444). Its compiled probabilities differ from scikit-learn's by at most 2e-15
#: on the bundled Sentinel-2 scene and on the Landsat 5 bands (treelite 4.8, tests/test_classifiers_real.py).
COMPILABLE = ("RandomForestClassifier", "ExtraTreesClassifier", "GradientBoostingClassifier",
              "HistGradientBoostingClassifier")

#: Largest difference in probability (0-1) accepted between the compiled model and scikit-learn.
TOLERANCE = 1e-6


def default_cache_dir() -> Path:
    """Where compiled models are kept: ``$LANDCLASS_CACHE`` or ``$XDG_CACHE_HOME/landclass/compiled`` (default
    ``~/.cache/landclass/compiled``)."""
    if os.environ.get("LANDCLASS_CACHE"):
        return Path(os.environ["LANDCLASS_CACHE"]) / "compiled"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "landclass" / "compiled"


class CompiledEstimator:
    """``predict_proba`` and ``classes_`` of a compiled forest, as the scikit-learn estimator it came from.

    Each thread loads its own ``tl2cgen.Predictor`` running ``nthread`` threads (1 when the caller predicts
    several blocks at once on its own threads, :func:`landclass_ui.export.predicted_windows`).
    """

    def __init__(self, libpath: str | os.PathLike, classes: np.ndarray, *, nthread: int = 1):
        self.libpath = str(libpath)
        self.classes_ = np.asarray(classes)
        self.nthread = nthread
        self._local = threading.local()

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities float64 ``(n, n_classes)`` of ``pixels`` (``(n, n_features)``), columns in
        ``classes_`` order."""
        import tl2cgen

        predictor = getattr(self._local, "predictor", None)
        if predictor is None:
            predictor = self._local.predictor = tl2cgen.Predictor(self.libpath, nthread=self.nthread)
        n = len(pixels)
        if n == 0:
            return np.zeros((0, len(self.classes_)))
        out = np.asarray(predictor.predict(tl2cgen.DMatrix(np.ascontiguousarray(pixels, dtype=np.float32))),
                         dtype=np.float64).reshape(n, -1)
        if out.shape[1] == 1 and len(self.classes_) == 2:  # binary boosting: the second class's probability
            out = np.column_stack([1 - out[:, 0], out[:, 0]])
        return out

    def __getstate__(self):
        """The library travels with the model (tens of kB; to Dask workers on other machines), the per-thread
        predictors stay behind."""
        return {"libpath": self.libpath, "library": Path(self.libpath).read_bytes(), "classes_": self.classes_,
                "nthread": self.nthread}

    def __setstate__(self, state):
        path = Path(state["libpath"])
        if not path.exists() or path.read_bytes() != state["library"]:  # another machine: into its cache
            path = default_cache_dir() / path.name  # the name is the fitted model's hash
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                    tmp.write(state["library"])
                os.chmod(tmp.name, 0o755)
                os.replace(tmp.name, path)
        self.__init__(path, state["classes_"], nthread=state["nthread"])


@contextlib.contextmanager
def _quiet():
    """Keep treelite's and tl2cgen's messages (progress from Python, a version note from their C++ code on
    file descriptor 2) off the terminal: they go to the ``landclass`` log at DEBUG level."""
    with tempfile.TemporaryFile(mode="w+") as sink:
        saved = [os.dup(fd) for fd in (1, 2)]
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield
        finally:
            sink.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            text = sink.read().strip()
            if text:
                LOG.debug("treelite/tl2cgen: %s", text)


def _compiler() -> str | None:
    for name in ("gcc", "clang", "cc"):
        if shutil.which(name):
            return "gcc" if name == "cc" else name
    return None


def compile_model(model: TrainedModel, sample: np.ndarray, *, cache_dir: str | os.PathLike | None = None,
                  nthread: int = 1) -> TrainedModel:
    """``model`` with its forest compiled (:class:`CompiledEstimator`), or ``model`` itself when it cannot be.

    Parameters
    ----------
    model : TrainedModel
    sample : float32 ``(n, n_bands)``
        Pixels (no NaN) on which the compiled probabilities must equal scikit-learn's within
        :data:`TOLERANCE`; a few thousand are enough.
    cache_dir : path, optional
        Where compiled libraries are kept (default :func:`default_cache_dir`), one per fitted model.
    nthread : int
        Threads of each predictor.

    Never raises for a model it cannot compile: the reason is logged (``landclass`` logger, INFO for another
    classifier, WARNING otherwise) and scikit-learn predicts.

    A model per region (:class:`landclass_ui.regional.RegionalEstimator`) has each region's model compiled as
    above, checked on the rows of ``sample`` in that region plus training pixels of the region kept with the
    model (:meth:`~landclass_ui.regional.RegionalEstimator.map_models`); each region's outcome is logged.
    """
    estimator = model.estimator
    if hasattr(estimator, "map_models"):  # one model per region (landclass_ui.regional): each compiled alone
        def one(name, region_model, pixels):
            out = compile_model(region_model, pixels, cache_dir=cache_dir, nthread=nthread)
            compiled = isinstance(out.estimator, CompiledEstimator)
            LOG.info("region %s: %s", name, "the compiled model predicts" if compiled else "scikit-learn predicts")
            return out

        return dataclasses.replace(model, estimator=estimator.map_models(one, sample))
    kind = type(estimator).__name__
    if kind not in COMPILABLE:
        LOG.info("predicting with scikit-learn: %s is not compiled", kind)
        return model
    toolchain = _compiler()
    if toolchain is None:
        LOG.warning("predicting with scikit-learn: no C compiler (gcc or clang) to compile the %s", kind)
        return model
    try:
        import tl2cgen
        import treelite
    except ImportError as exc:
        LOG.warning("predicting with scikit-learn: %s", exc)
        return model
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = hashlib.sha1(pickle.dumps((estimator, treelite.__version__, tl2cgen.__version__))).hexdigest()[:20]
    libpath = cache / f"{key}.so"
    try:
        if not libpath.exists():
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache) as tmp, _quiet():  # a unique name, then moved into place
                built = Path(tmp) / libpath.name
                tl2cgen.export_lib(treelite.sklearn.import_model(estimator), toolchain=toolchain, libpath=built,
                                   params={"parallel_comp": 4}, nthread=nthread)
                os.replace(built, libpath)
        compiled = CompiledEstimator(libpath, estimator.classes_, nthread=nthread)
        sample = np.asarray(sample, dtype=np.float32)
        difference = float(np.abs(compiled.predict_proba(sample) - estimator.predict_proba(sample)).max(initial=0))
    except Exception as exc:  # treelite or the compiler failed: scikit-learn predicts
        LOG.warning("predicting with scikit-learn: compiling the %s failed (%s: %s)", kind, type(exc).__name__, exc)
        return model
    if difference > TOLERANCE:
        LOG.warning("predicting with scikit-learn: the compiled %s differs by %.2g in probability", kind, difference)
        return model
    LOG.info("predicting with the %s compiled by tl2cgen (%s)", kind, libpath)
    return dataclasses.replace(model, estimator=compiled)

"""Classifier registry: each classifier is a name, its parameters (stable names, defaults, ranges) and a
factory building a scikit-learn estimator.

Parameters are stored in the recipe by these stable names (SEPAL's vocabulary, e.g. ``n_trees``) and can be
given on the command line as ``--param n_trees=50``. A new classifier is one :class:`ClassifierSpec` added to
:data:`CLASSIFIERS`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .errors import ClassifierError
from .legend import NODATA_CLASS

__all__ = ["Param", "ClassifierSpec", "CLASSIFIERS", "DEFAULT_CLASSIFIER", "make_classifier", "parse_params",
           "get_spec", "feature_importance", "MinimumDistanceClassifier", "TreeTextClassifier", "parse_tree_text",
           "parse_trees", "SCALED"]


@dataclass(frozen=True)
class Param:
    """One classifier parameter.

    ``kind`` is ``int``, ``float``, ``str`` or ``bool``; ``minimum``/``maximum`` bound numbers (inclusive);
    ``choices`` lists the allowed strings; ``none_ok`` allows ``None`` (written ``none`` on the command line).
    """

    name: str
    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    none_ok: bool = False
    check: Callable[[Any], None] | None = None  #: extra validation of a parsed value (raises ClassifierError)

    def parse(self, value: Any) -> Any:
        """Convert and check a value (a string from the command line or a JSON value).

        Raises
        ------
        ClassifierError
            With the valid range or choices in the message.
        """
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            if self.none_ok:
                return None
            raise ClassifierError(f"parameter {self.name} needs a value ({self.help})")
        try:
            if self.kind is bool:
                if isinstance(value, str):
                    if value.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    value = value.strip().lower() in ("true", "1", "yes")
                out = bool(value)
            elif self.kind is int:
                f = float(value)
                if not f.is_integer():
                    raise ValueError(value)
                out = int(f)
            elif self.kind is float:
                out = float(value)
                if not math.isfinite(out):  # nan would slip through the range check
                    raise ValueError(value)
            else:
                out = str(value).strip()
        except (TypeError, ValueError, OverflowError):  # OverflowError: an integer too large for a float
            what = {int: "a whole number", float: "a number, e.g. 0.5", bool: "true or false"}.get(self.kind, "text")
            raise ClassifierError(
                f"parameter {self.name}={value!r} is not a {self.kind.__name__} ({self.help}); give {what}"
            ) from None
        if self.minimum is not None and out < self.minimum or self.maximum is not None and out > self.maximum:
            lo = "" if self.minimum is None else f"{self.minimum:g}"
            hi = "" if self.maximum is None else f"{self.maximum:g}"
            rule = f"of at least {lo}" if not hi else f"of at most {hi}" if not lo else f"from {lo} to {hi}"
            raise ClassifierError(f"parameter {self.name}={out} is outside [{lo}, {hi}] ({self.help}); give a value "
                                  f"{rule}")
        if self.choices and out not in self.choices:
            raise ClassifierError(f"parameter {self.name}={out!r} must be one of {', '.join(self.choices)}")
        if self.check is not None:
            self.check(out)
        return out


@dataclass(frozen=True)
class ClassifierSpec:
    """A classifier: stable ``name``, display ``label``, ``params`` and ``build(**params) -> estimator``.

    ``short`` names the parameters shown first in the dashboard's short form; ``doc`` is a one-line description
    shown in the dashboard (what it is, what it maps to, where its probabilities come from).
    """

    name: str
    label: str
    params: tuple[Param, ...]
    build: Callable[..., Any]
    short: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())
    doc: str = ""

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def _random_forest(n_trees, variables_per_split, min_leaf_population, bag_fraction, max_nodes, seed):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=n_trees,
        max_features=variables_per_split if variables_per_split is not None else "sqrt",
        min_samples_leaf=min_leaf_population,
        max_samples=bag_fraction if bag_fraction < 1 else None,
        max_leaf_nodes=max_nodes,
        random_state=seed,
        n_jobs=-1,
    )


#: Random forest with SEPAL's (Earth Engine's smileRandomForest) defaults: 25 trees, sqrt(n) variables per
#: split, min leaf population 1, bag fraction 0.5, seed 1 (Breiman 2001, Machine Learning 45:5-32).
RANDOM_FOREST = ClassifierSpec(
    name="random-forest",
    label="Random forest",
    params=(
        Param("n_trees", int, 25, "number of trees", minimum=1, maximum=5000),
        Param("variables_per_split", int, None, "variables tried at each split (none: sqrt of the bands)",
              minimum=1, none_ok=True),
        Param("min_leaf_population", int, 1, "minimum training pixels in a leaf", minimum=1),
        Param("bag_fraction", float, 0.5, "fraction of the training pixels drawn for each tree",
              minimum=0.01, maximum=1.0),
        Param("max_nodes", int, None, "maximum leaf nodes per tree (none: unlimited)", minimum=2, none_ok=True),
        Param("seed", int, 1, "random seed", minimum=0),
    ),
    build=_random_forest,
    short=("n_trees",),
    aliases=("rf", "randomforest", "random_forest"),
    doc="scikit-learn RandomForestClassifier with SEPAL's defaults; probabilities are the trees' mean vote",
)

# --- gradient tree boosting -------------------------------------------------------------------------------


def _gradient_tree_boost(n_trees, shrinkage, sampling_rate, max_nodes, max_depth, seed):
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(
        n_estimators=n_trees,
        learning_rate=shrinkage,
        subsample=sampling_rate,
        max_leaf_nodes=max_nodes,
        max_depth=max_depth,
        random_state=seed,
    )


#: Gradient tree boosting (Friedman 2001, Annals of Statistics 29:1189-1232) with scikit-learn's
#: GradientBoostingClassifier (multinomial log-loss, probabilities from the boosted scores' softmax).
#:
#: The defaults are NOT SEPAL's. SEPAL (Earth Engine's smileGradientTreeBoost) presets 25 trees, shrinkage
#: 0.005, sampling rate 0.7 and LAD loss: 25 x 0.005 moves the scores by at most ~0.125 from the prior, so the
#: model is nearly untrained (it predicts the majority class almost everywhere and its probabilities stay near
#: the class shares). We default to 100 trees, shrinkage 0.1, sampling 0.7 (stochastic boosting, as SEPAL),
#: depth-3 trees: scikit-learn's well-tested defaults plus SEPAL's sampling. LAD is a regression loss; for
#: classes scikit-learn uses the multinomial deviance (log-loss). SEPAL's preset can still be entered:
#: ``n_trees=25 shrinkage=0.005``.
GRADIENT_TREE_BOOST = ClassifierSpec(
    name="gradient-tree-boost",
    label="Gradient tree boosting",
    params=(
        Param("n_trees", int, 100, "number of boosting stages (SEPAL preset: 25)", minimum=1, maximum=5000),
        Param("shrinkage", float, 0.1, "learning rate: each tree's contribution (SEPAL preset: 0.005)",
              minimum=0.0001, maximum=1.0),
        Param("sampling_rate", float, 0.7, "fraction of the training pixels drawn for each tree",
              minimum=0.01, maximum=1.0),
        Param("max_nodes", int, None, "maximum leaf nodes per tree (none: limited by max_depth)", minimum=2,
              none_ok=True),
        Param("max_depth", int, 3, "maximum depth of each tree", minimum=1, maximum=64),
        Param("seed", int, 1, "random seed", minimum=0),
    ),
    build=_gradient_tree_boost,
    short=("n_trees", "shrinkage"),
    aliases=("gtb", "gbt", "gradient-boosting", "gradient_tree_boost", "gradienttreeboost", "boosting"),
    doc="scikit-learn GradientBoostingClassifier; defaults 100 trees, shrinkage 0.1 (SEPAL's 25 x 0.005 preset "
        "is nearly untrained); probabilities from the model",
)


# --- histogram gradient boosting --------------------------------------------------------------------------


def _hist_gradient_boosting(max_iter, learning_rate, max_nodes, max_depth, min_leaf_population,
                            l2_regularization, early_stopping, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=learning_rate,
        max_leaf_nodes=max_nodes,
        max_depth=max_depth,
        min_samples_leaf=min_leaf_population,
        l2_regularization=l2_regularization,
        early_stopping=early_stopping,
        random_state=seed,
    )


#: Histogram-based gradient boosting: scikit-learn's HistGradientBoostingClassifier (scikit-learn user guide,
#: "Histogram-Based Gradient Boosting", scikit-learn.org/stable/modules/ensemble.html#histogram-based-gradient-
#: boosting), the algorithm of LightGBM (Ke et al. 2017, "LightGBM: a highly efficient gradient boosting decision
#: tree", NeurIPS 30): each band is binned into at most 255 quantile bins once, and the trees grow leaf-wise on
#: the bins' histograms, which makes fitting fast on many pixels. Not in SEPAL (Earth Engine has no such
#: classifier). Loss: multinomial log-loss; probabilities are the softmax of the boosted scores (the sigmoid for
#: two classes), ``predict_proba``.
#:
#: Defaults are scikit-learn's (1.9): 100 iterations, learning rate 0.1, 31 leaves per tree, no depth limit,
#: 20 pixels per leaf, no L2 regularization, except early stopping: scikit-learn's ``"auto"`` switches it on
#: above 10,000 training pixels and then holds out 10% of them at random to decide when to stop, so the model
#: would depend on the number of pixels and the seed; here it is off unless asked for (``early_stopping=true``).
#: ``seed`` draws that hold-out and, above 200,000 training pixels, the subsample the bin edges are computed from
#: (scikit-learn's ``random_state``); with fewer pixels and no early stopping the model does not depend on it.
#: One iteration adds one tree per class (one in all for two classes). A leaf
#: needs ``min_leaf_population`` pixels, so with fewer than twice that many training pixels no tree splits and
#: every pixel gets the class shares of the training data (lower it for a handful of live-training clicks).
#: Missing values (NaN) are handled by the trees (learnt direction at each split), but the pipeline never
#: classifies a pixel with a nodata band (:func:`landclass_ui.model.predict_block`: class 255). No impurity-based
#: band importance: :func:`feature_importance` gives None for it.
HIST_GRADIENT_BOOSTING = ClassifierSpec(
    name="hist-gradient-boosting",
    label="Histogram gradient boosting",
    params=(
        Param("max_iter", int, 100, "boosting iterations (each adds one tree per class)", minimum=1, maximum=5000),
        Param("learning_rate", float, 0.1, "learning rate (shrinkage): each tree's contribution",
              minimum=0.0001, maximum=1.0),
        Param("max_nodes", int, 31, "maximum leaf nodes per tree (none: limited by max_depth)", minimum=2,
              none_ok=True),
        Param("max_depth", int, None, "maximum depth of each tree (none: limited by max_nodes)", minimum=1,
              maximum=64, none_ok=True),
        Param("min_leaf_population", int, 20, "minimum training pixels in a leaf", minimum=1),
        Param("l2_regularization", float, 0.0, "L2 regularization of the leaf values (0: none)", minimum=0.0,
              maximum=1e6),
        Param("early_stopping", bool, False, "true or false: stop once the loss on 10% of the pixels, held out at "
              "random, stops improving"),
        Param("seed", int, 1, "random seed (early-stopping hold-out; bin edges above 200,000 pixels)",
              minimum=0),
    ),
    build=_hist_gradient_boosting,
    short=("max_iter", "learning_rate"),
    aliases=("hgb", "hgbt", "histgradientboosting", "hist_gradient_boosting", "histogram-gradient-boosting"),
    doc="scikit-learn HistGradientBoostingClassifier (LightGBM's algorithm) with scikit-learn's defaults, early "
        "stopping off; probabilities from the model",
)


# --- CART -------------------------------------------------------------------------------------------------


def _cart(max_nodes, min_leaf_population, max_depth, seed):
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_leaf_nodes=max_nodes, min_samples_leaf=min_leaf_population,
                                  max_depth=max_depth, random_state=seed)


#: CART (Breiman et al. 1984) with SEPAL's (smileCart) defaults: unlimited nodes, min leaf population 1.
#: Probabilities are the training class shares of the leaf (one-hot for a pure leaf).
CART = ClassifierSpec(
    name="cart",
    label="CART",
    params=(
        Param("max_nodes", int, None, "maximum leaf nodes (none: unlimited)", minimum=2, none_ok=True),
        Param("min_leaf_population", int, 1, "minimum training pixels in a leaf", minimum=1),
        Param("max_depth", int, None, "maximum depth (none: unlimited)", minimum=1, none_ok=True),
        Param("seed", int, 1, "random seed (ties between equally good splits)", minimum=0),
    ),
    build=_cart,
    short=("max_nodes", "min_leaf_population"),
    aliases=("classification-tree", "decisiontreeclassifier"),
    doc="scikit-learn DecisionTreeClassifier; probabilities are the leaf's class shares",
)


# --- naive Bayes ------------------------------------------------------------------------------------------


def _naive_bayes(variant, lambda_):
    from sklearn.naive_bayes import GaussianNB, MultinomialNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    if variant == "gaussian":
        return GaussianNB(var_smoothing=lambda_)
    # multinomial needs non-negative "counts": min-max scaled bands, clipped so new pixels stay >= 0
    return make_pipeline(MinMaxScaler(clip=True), MultinomialNB(alpha=lambda_))


#: Naive Bayes. ``gaussian`` (default): scikit-learn GaussianNB, one normal per class and band, the right model
#: for reflectance; ``lambda`` is its variance smoothing (a share of the largest band variance added to all).
#: ``multinomial``: SEPAL's preset (smileNaiveBayes, multinomial on non-negative integers), here MultinomialNB on
#: min-max scaled bands (the scaling is what makes reflectance non-negative "counts"; it is part of this
#: variant only), ``lambda`` its additive smoothing. Probabilities are the model's posteriors.
NAIVE_BAYES = ClassifierSpec(
    name="naive-bayes",
    label="Naive Bayes",
    params=(
        Param("variant", str, "gaussian", "gaussian (for reflectance) or multinomial (SEPAL's preset, on min-max "
              "scaled bands)", choices=("gaussian", "multinomial")),
        Param("lambda", float, 1e-6, "smoothing: variance smoothing (gaussian) or additive smoothing (multinomial)",
              minimum=0.0, maximum=1e3),
    ),
    build=lambda variant, **kw: _naive_bayes(variant, kw["lambda"]),
    short=("variant",),
    aliases=("nb", "naivebayes", "naive_bayes", "bayes"),
    doc="scikit-learn GaussianNB (or MultinomialNB on min-max scaled bands, SEPAL's preset); posterior "
        "probabilities",
)


# --- SVM --------------------------------------------------------------------------------------------------


class _Estimator:
    """Minimal scikit-learn estimator protocol without importing scikit-learn when this module loads (the
    dashboard imports the registry at start-up): ``get_params``/``set_params`` from ``_PARAMS`` (so ``clone``
    and pipelines work) and classifier tags."""

    _PARAMS: tuple[str, ...] = ()

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params):
        for key, value in params.items():
            if key not in self._PARAMS:
                raise ValueError(f"{type(self).__name__} has no parameter {key!r}")
            setattr(self, key, value)
        return self

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags())

    def predict(self, x) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(axis=1)]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if k not in ("svm",))
        return f"{type(self).__name__}({args})"


class PlattSVC(_Estimator):
    """An SVM (``svm``: an unfitted SVC or NuSVC) with probabilities by Platt scaling.

    scikit-learn 1.9 deprecates ``SVC(probability=True)`` (libsvm's internal Platt scaling) for
    ``CalibratedClassifierCV(svm, method="sigmoid", ensemble=False)``, which is what this is: a sigmoid per class
    (one-vs-rest decision values) fitted on out-of-fold decision values, then normalised to sum to 1; the SVM
    itself is refitted on all pixels. Folds: 5, or the smallest class's pixel count when smaller. With a single
    pixel in some class (the first clicks of a live training) nothing can be calibrated: the probabilities are
    then a softmax of the one-vs-rest decision values (uncalibrated, but their argmax is the SVM's class).
    """

    _PARAMS = ("svm",)

    def __init__(self, svm=None):
        self.svm = svm

    def fit(self, x, y):
        from sklearn.base import clone
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold

        y = np.asarray(y)
        self.classes_, counts = np.unique(y, return_counts=True)
        folds = int(min(5, counts.min()))
        if folds >= 2:
            self.model_ = CalibratedClassifierCV(clone(self.svm), method="sigmoid", ensemble=False,
                                                 cv=StratifiedKFold(folds)).fit(x, y)
            self.calibrated_ = True
        else:
            self.model_ = clone(self.svm).set_params(decision_function_shape="ovr").fit(x, y)
            self.calibrated_ = False
        self.n_features_in_ = np.asarray(x).shape[1]
        return self

    def predict_proba(self, x) -> np.ndarray:
        if self.calibrated_:
            return self.model_.predict_proba(x)
        z = np.asarray(self.model_.decision_function(x), dtype=np.float64)
        if z.ndim == 1:  # two classes: one decision value, positive for classes_[1]
            z = np.stack([-z, z], axis=1) / 2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def _svm(type, kernel, C, nu, gamma, degree, coef0):  # noqa: A002 - ``type`` is SEPAL's name
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.svm import SVC, NuSVC

    common = dict(kernel=kernel, gamma="auto" if gamma is None else gamma, degree=degree, coef0=coef0,
                  cache_size=500)
    svm = SVC(C=C, **common) if type == "c-svc" else NuSVC(nu=nu, **common)
    return make_pipeline(MinMaxScaler(), PlattSVC(svm))


#: Support vector machine with SEPAL's (smileSvm / libsvm) defaults: C-SVC, linear kernel, C 1, gamma 1/n_bands,
#: degree 3, coef0 0 (NU-SVC with nu 0.5 via ``type``). Bands are min-max scaled to [0, 1] first (in a Pipeline,
#: from the training pixels' range), as SEPAL's ``normalize``. Probabilities: Platt scaling (a sigmoid per
#: class fitted on out-of-fold decision values, see :class:`PlattSVC`): calibrated estimates, whose argmax can,
#: rarely, differ from the SVM's own vote (the map shows the most probable class).
SVM = ClassifierSpec(
    name="svm",
    label="Support vector machine",
    params=(
        Param("kernel", str, "linear", "kernel: linear, rbf, poly or sigmoid",
              choices=("linear", "rbf", "poly", "sigmoid")),
        Param("C", float, 1.0, "cost of a misclassified training pixel (C-SVC)", minimum=1e-6, maximum=1e6),
        Param("type", str, "c-svc", "c-svc or nu-svc", choices=("c-svc", "nu-svc")),
        Param("nu", float, 0.5, "nu (NU-SVC): bound on the share of margin errors", minimum=0.001, maximum=1.0),
        Param("gamma", float, None, "kernel coefficient for rbf, poly, sigmoid (none: 1 / number of bands)",
              minimum=1e-9, maximum=1e6, none_ok=True),
        Param("degree", int, 3, "degree of the poly kernel", minimum=1, maximum=10),
        Param("coef0", float, 0.0, "constant term of the poly and sigmoid kernels", minimum=-1e3, maximum=1e3),
    ),
    build=_svm,
    short=("kernel", "C"),
    aliases=("support-vector-machine", "svc"),
    doc="scikit-learn SVC / NuSVC on min-max scaled bands; probabilities by Platt scaling",
)


# --- minimum distance -------------------------------------------------------------------------------------


class MinimumDistanceClassifier(_Estimator):
    """Nearest class mean, scikit-learn compatible (``fit``, ``predict``, ``predict_proba``, ``classes_``).

    Parameters
    ----------
    metric : {"euclidean", "mahalanobis", "cosine"}
        ``mahalanobis`` uses the pooled within-class covariance, shrunk towards its average variance by
        ``regularization`` (``(1 - r) S + r tr(S)/p I``) so that it is invertible even with few pixels or
        collinear bands. ``cosine`` is the spectral angle (radians) between the pixel and the class mean.
    regularization : float
        ``r`` above, in [0, 1].

    Notes
    -----
    SEPAL's minimum distance gives no probabilities. Ours (a labelled substitute) are a softmax of negative
    scaled squared distances, ``p_k ~ exp(-d_k^2 / (2 s^2))``: the posterior of a Gaussian model with equal
    priors and the same spread around every class mean. ``s^2`` is estimated from the training pixels (mean
    squared distance to their own class mean per degree of freedom: bands for euclidean and mahalanobis, bands - 1
    for the angle), so for mahalanobis this is the LDA posterior with equal priors. The most probable class is
    always the nearest one.
    """

    _PARAMS = ("metric", "regularization")

    def __init__(self, metric: str = "euclidean", regularization: float = 1e-3):
        self.metric = metric
        self.regularization = regularization

    def _distances(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.metric == "cosine":
            xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
            mn = self.means_ / np.maximum(np.linalg.norm(self.means_, axis=1, keepdims=True), 1e-12)
            return np.arccos(np.clip(xn @ mn.T, -1.0, 1.0))
        if self.metric == "mahalanobis":
            x = x @ self.whiten_
            means = self.means_ @ self.whiten_
        else:
            means = self.means_
        d2 = (x * x).sum(axis=1)[:, None] - 2 * x @ means.T + (means * means).sum(axis=1)[None, :]
        return np.sqrt(np.maximum(d2, 0.0))

    def fit(self, x, y):
        if self.metric not in ("euclidean", "mahalanobis", "cosine"):
            raise ValueError(f"metric must be euclidean, mahalanobis or cosine, not {self.metric!r}")
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        self.n_features_in_ = x.shape[1]
        self.means_ = np.stack([x[index == k].mean(axis=0) for k in range(len(self.classes_))])
        if self.metric == "mahalanobis":
            resid = x - self.means_[index]
            dof = max(len(x) - len(self.classes_), 1)
            cov = np.atleast_2d(resid.T @ resid / dof)
            p = cov.shape[0]
            scale = np.trace(cov) / p if np.trace(cov) > 0 else 1.0
            r = float(self.regularization)
            cov = (1 - r) * cov + r * scale * np.eye(p)
            # whitening: x W has identity covariance, so Euclidean distance after it is the Mahalanobis distance
            vals, vecs = np.linalg.eigh(cov)
            vals = np.maximum(vals, 1e-12 * max(vals.max(), 1e-300))
            self.covariance_ = cov
            self.whiten_ = vecs / np.sqrt(vals)
        own = self._distances(x)[np.arange(len(x)), index]
        dof = max(x.shape[1] - (1 if self.metric == "cosine" else 0), 1)
        self.spread_ = float(np.sqrt(max(np.mean(own ** 2) / dof, 1e-12)))
        return self

    def predict_proba(self, x) -> np.ndarray:
        z = -0.5 * (self._distances(x) / self.spread_) ** 2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x) -> np.ndarray:
        return self.classes_[self._distances(x).argmin(axis=1)]



def _minimum_distance(metric, regularization):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    return make_pipeline(MinMaxScaler(), MinimumDistanceClassifier(metric, regularization))


#: Minimum distance to class means (SEPAL: euclidean, cosine i.e. spectral angle, Mahalanobis) on min-max scaled
#: bands (Pipeline, as SEPAL's ``normalize``). Probabilities are our substitute, see
#: :class:`MinimumDistanceClassifier`.
MINIMUM_DISTANCE = ClassifierSpec(
    name="minimum-distance",
    label="Minimum distance",
    params=(
        Param("metric", str, "euclidean", "euclidean, mahalanobis (pooled covariance) or cosine (spectral angle)",
              choices=("euclidean", "mahalanobis", "cosine")),
        Param("regularization", float, 1e-3, "mahalanobis: shrinkage of the pooled covariance towards its mean "
              "variance", minimum=0.0, maximum=1.0),
    ),
    build=_minimum_distance,
    short=("metric",),
    aliases=("mindist", "min-distance", "minimum_distance", "minimumdistance", "md"),
    doc="nearest class mean on min-max scaled bands; probabilities (not in SEPAL) are a softmax of negative "
        "squared distances",
)


# --- decision tree (pasted) -------------------------------------------------------------------------------
#
# What SEPAL and Earth Engine do, and so what this section does:
#
# * SEPAL (github.com/openforis/sepal, lib/js/ee/src/classification/classification.js,
#   ``createDecisionTreeClassifier``, read at commit 1b83d867350d8eb35f4a94aa96d5b5beeec2e237) takes the pasted
#   text, tries ``JSON.parse`` on it, and calls ``ee.Classifier.decisionTreeEnsemble(array)`` when that gives an
#   array, ``ee.Classifier.decisionTree(text)`` when it gives a string or the text is not JSON; anything else is
#   an error ("Decision tree must either be a JSON array with decision trees or a single decision tree string").
# * Earth Engine (API reference, developers.google.com/earth-engine/apidocs/ee-classifier-decisiontree and
#   .../ee-classifier-decisiontreeensemble): ``treeString`` is "the decision tree, specified in the text format
#   generated by R and other similar tools"; ``treeStrings`` is a list in which "each item ... should contain one
#   or more trees in text format".
# * Hand-written Earth Engine trees (as shared in Earth Engine scripts) write ``9999`` for n, loss and the class
#   of every internal node, e.g. ``1) root 9999 9999 9999`` / ``2) nd<=-0.15 9999 9999 1 *``: only leaves
#   predict, so only their classes are classes of the model.
# * Neither source says how the ensemble's trees are combined, nor what happens to a masked pixel. Here: a
#   majority vote (a random forest's rule), ties to the lowest class value; a pixel with NaN (nodata) in a band
#   a tree tests gets no class (the class map's nodata, 255) instead of falling into one branch.

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|Infinity)"
_NODE = re.compile(
    r"^(?P<id>\d+)\)\s*(?:(?P<root>root)|(?P<var>[^\s<>=!]+)\s*(?P<op><=|>=|==|!=|<|>|=)\s*(?P<value>" + _NUM + r"))"
    r"\s+(?P<n>" + _NUM + r")\s+(?P<loss>" + _NUM + r")\s+(?P<yval>[^\s()*]+)"
    r"\s*(?:\((?P<prob>[^)]*)\))?\s*(?P<leaf>\*)?\s*$"
)
_OPS = {
    "<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater,
    "=": np.equal, "==": np.equal, "!=": np.not_equal,
}
#: The condition that sends a pixel to the other child (``=`` and ``==`` are the same test).
_OPPOSITE = {"<=": ">", ">": "<=", "<": ">=", ">=": "<", "=": "!=", "==": "!=", "!=": "=="}
_SAME_OP = {"=": "==", "==": "=="}


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass
class TreeNode:
    """One node of a parsed tree: the condition leading to it (``var op value``, None for the root), its
    class ``yval``, its class distribution ``prob`` (None if not given) and its children.

    ``yval`` is the class a leaf predicts (an int >= 0). An internal node's ``yval`` is never used (hand-written
    trees put a placeholder such as 9999 there): it is an int when written as one, else None.
    """

    id: int
    var: str | None
    op: str | None
    value: float | None
    yval: int | None
    prob: tuple[float, ...] | None
    leaf: bool
    children: list = field(default_factory=list)

    @property
    def condition(self) -> str:
        return "root" if self.var is None else f"{self.var}{self.op}{_fmt(self.value)}"


def _node_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, stripped line)`` of the node lines (``id) ...``) of ``text``; header lines (``n=...``,
    ``node), split, ...``, ``* denotes terminal node``), blank lines and ``#`` comments are left out."""
    out = []
    for number, raw in enumerate(str(text).splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#") and re.match(r"^\d+\)", line):
            out.append((number, line))
    return out


def _parse_lines(lines: list[tuple[int, str]], where: str) -> TreeNode:
    """Build one tree from its numbered node lines (see :func:`parse_tree_text`); ``where`` names the tree in
    error messages (``"decision tree"``, ``"decision tree 2 of the JSON array"``)."""
    nodes: dict[int, TreeNode] = {}
    for number, line in lines:
        m = _NODE.match(line)
        if m is None:
            raise ClassifierError(
                f"{where}: line {number} {line!r} is not 'id) band<=value n loss class (p1 p2 ...) [*]'")
        node_id = int(m["id"])
        if node_id in nodes:
            hint = (" (several trees: paste them as a JSON array of tree strings, "
                    "[\"1) root ...\\n2) ...\", \"1) root ...\"], which is an ensemble)") if node_id == 1 else ""
            raise ClassifierError(f"{where}: line {number}: node {node_id} appears twice{hint}")
        leaf = m["leaf"] is not None
        try:
            yval_f = float(m["yval"])
        except ValueError:
            yval_f = math.nan
        yval = int(yval_f) if math.isfinite(yval_f) and yval_f.is_integer() and yval_f >= 0 else None
        if leaf and yval is None:
            raise ClassifierError(f"{where}: line {number}: leaf class {m['yval']} is not a class value (an "
                                  "integer >= 0); internal nodes may carry any placeholder such as 9999, leaves "
                                  "(marked *) may not")
        if leaf and yval == NODATA_CLASS:
            raise ClassifierError(f"{where}: line {number}: leaf class {NODATA_CLASS} is the nodata value of the "
                                  "class map; give the class another value")
        prob = None
        if m["prob"] is not None and m["prob"].strip():
            try:
                prob = tuple(float(p) for p in m["prob"].replace(",", " ").split())
            except ValueError:
                raise ClassifierError(f"{where}: line {number}: probabilities ({m['prob']}) are not "
                                      "numbers") from None
            if any(p < 0 or not math.isfinite(p) for p in prob) or sum(prob) <= 0:
                raise ClassifierError(f"{where}: line {number}: probabilities ({m['prob']}) must be >= 0 "
                                      "and not all 0")
        if (m["root"] is not None) != (node_id == 1):
            raise ClassifierError(f"{where}: line {number}: only node 1 is the root, and it is written "
                                  "'1) root ...'")
        nodes[node_id] = TreeNode(node_id, m["var"], m["op"], None if m["value"] is None else float(m["value"]),
                                  yval, prob, leaf)
    if 1 not in nodes:
        raise ClassifierError(f"{where} has no root: paste the tree text, starting at '1) root ...' "
                              "(e.g. ee.Classifier.smileCart().train(...).explain()['tree'])")
    for node_id in sorted(nodes):
        if node_id != 1:
            parent = nodes.get(node_id // 2)
            if parent is None:
                raise ClassifierError(f"{where}: node {node_id} has no parent node {node_id // 2}")
            if parent.leaf:
                raise ClassifierError(f"{where}: node {node_id}'s parent {parent.id} is marked as a leaf (*)")
            parent.children.append(nodes[node_id])
    for node in nodes.values():
        if node.leaf:
            continue
        if len(node.children) != 2:
            raise ClassifierError(f"{where}: node {node.id} is not a leaf (no *) but has "
                                  f"{len(node.children)} children instead of 2")
        left, right = sorted(node.children, key=lambda c: c.id)
        if left.var != right.var:
            raise ClassifierError(
                f"{where}: nodes {left.id} ({left.condition}) and {right.id} ({right.condition}) test different "
                f"bands; the two children of node {node.id} must be one test and its opposite, e.g. "
                f"'{left.id}) {left.condition}' and '{right.id}) {left.var}{_OPPOSITE[left.op]}{_fmt(left.value)}'")
        if _SAME_OP.get(right.op, right.op) != _SAME_OP.get(_OPPOSITE[left.op], _OPPOSITE[left.op]) \
                or right.value != left.value:
            raise ClassifierError(
                f"{where}: node {right.id}'s condition {right.condition} is not the opposite of node {left.id}'s "
                f"{left.condition}, so some pixels would go to both children or to neither; write "
                f"'{right.id}) {left.var}{_OPPOSITE[left.op]}{_fmt(left.value)}'")
    return nodes[1]


def parse_tree_text(text: str, where: str = "decision tree") -> TreeNode:
    """Parse one tree in Earth Engine's text format (``ee.Classifier.smileCart(...).explain()['tree']``, itself
    Smile's CART listing, the layout of R's rpart), the ``treeString`` of ``ee.Classifier.decisionTree``::

        n=3113
        node), split, n, loss, yval, (yprob)
        * denotes terminal node
        1) root 3113 2000 1 (0.5 0.3 0.2)
          2) B8A<=0.05 600 10 3 (0.01 0.01 0.98) *
          3) B8A>0.05 2513 1000 1 (0.6 0.35 0.05)
            6) B04<=0.03 900 50 2 (0.05 0.95 0) *
            7) B04>0.03 1613 100 1 (0.9 0.1 0) *

    Each node line is ``id) split n loss yval [(p1 p2 ...)] [*]``: ``split`` is ``root`` or the condition that
    sends a pixel to this node (``band<=value``, ``<``, ``>=``, ``>``, ``=``, ``!=``; spaces allowed), ``yval``
    the class value predicted there, ``(p...)`` optional class probabilities, ``*`` marks leaves. Only leaves
    predict: a leaf's ``yval`` must be an integer >= 0 (and not 255, the class map's nodata value), while an
    internal node's may be any placeholder (hand-written Earth Engine trees write ``9999``). Children of node
    ``k`` are ``2k`` and ``2k+1`` and their conditions must be one test and its opposite on the same band
    (``B4<=0.1`` / ``B4>0.1``, ``<`` / ``>=``, ``=`` / ``!=``), so every pixel with a value goes to exactly
    one child. Indentation is ignored (a paste that loses it still works); header lines and lines starting with
    ``#`` are skipped. Categorical splits (``band: a,b``) are not supported.

    Sources: Earth Engine API reference, ``ee.Classifier.decisionTree``
    (developers.google.com/earth-engine/apidocs/ee-classifier-decisiontree); SEPAL, which passes the pasted text
    to it (github.com/openforis/sepal, ``lib/js/ee/src/classification/classification.js``,
    ``createDecisionTreeClassifier``).

    Parameters
    ----------
    text : str
        The tree.
    where : str
        How error messages name the tree (e.g. ``"decision tree 2 of the JSON array"``).

    Returns
    -------
    TreeNode
        The root; ``root.children`` lead to the rest.

    Raises
    ------
    ClassifierError
        With the line number and what is wrong (unparseable line, node twice, no root, orphan node, internal
        node without two children, children that are not one test and its opposite, leaf class not a class
        value or 255, bad probabilities).
    """
    return _parse_lines(_node_lines(text), where)


def _split_trees(text: str) -> list[list[tuple[int, str]]]:
    """The node lines of each tree in ``text``: a new tree starts at each ``1)`` line after the first."""
    trees: list[list[tuple[int, str]]] = []
    for number, line in _node_lines(text):
        if re.match(r"^1\)", line) or not trees:
            trees.append([])
        trees[-1].append((number, line))
    return trees or [[]]


def parse_trees(text: str) -> tuple[list[TreeNode], bool]:
    """Parse the decision-tree parameter as SEPAL does: a JSON array of tree strings is an ensemble, anything
    else one tree.

    As SEPAL's ``createDecisionTreeClassifier`` (github.com/openforis/sepal,
    ``lib/js/ee/src/classification/classification.js``): the text is read as JSON; a JSON array of strings is
    given to ``ee.Classifier.decisionTreeEnsemble`` (whose items each "contain one or more trees in text format",
    Earth Engine API reference, developers.google.com/earth-engine/apidocs/ee-classifier-decisiontreeensemble: an
    item with several ``1) root`` lines holds several trees), a JSON string or text that is not JSON to
    ``ee.Classifier.decisionTree`` (:func:`parse_tree_text`).

    Parameters
    ----------
    text : str
        ``"1) root ...\\n2) ..."`` or ``'["1) root ...\\n2) ...", "1) root ..."]'``.

    Returns
    -------
    trees : list of TreeNode
        The roots, in the array's order (one for a single tree).
    ensemble : bool
        True when the text is a JSON array (even of one tree: its prediction is then a vote).

    Raises
    ------
    ClassifierError
        Text that starts with ``[`` but is not valid JSON (with JSON's own message and how to write newlines and
        quotes), a JSON value that is neither an array nor a string, an empty array, an item that is not a
        string, or any error of :func:`parse_tree_text`, naming the tree (``decision tree 2 of the JSON array:
        line 3 ...``; line numbers count within that item).
    """
    import json

    text = str(text)
    try:
        value = json.loads(text)
    except ValueError as err:
        if text.lstrip().startswith("["):
            raise ClassifierError(
                f"the decision tree starts with '[' but is not a valid JSON array of tree strings ({err.msg} at "
                f"line {err.lineno} column {err.colno}); write it as [\"1) root ...\\n2) ...\", \"1) root ...\"]: "
                "each tree in double quotes, its newlines written \\n, trees separated by commas") from None
        return [parse_tree_text(text)], False
    if isinstance(value, str):
        return [parse_tree_text(value)], False
    if not isinstance(value, list):
        kind = {dict: "a JSON object", bool: "a JSON boolean", type(None): "JSON null"}.get(
            type(value), "a JSON number")
        raise ClassifierError(f"the decision tree must be a JSON array of tree strings or a single tree, not "
                              f"{kind}; paste the tree text ('1) root ...') or [\"1) root ...\", \"1) root ...\"]")
    if not value:
        raise ClassifierError("the decision tree's JSON array has no trees; write [\"1) root ...\\n2) ...\", ...]")
    trees = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, str):
            kind = {dict: "a JSON object", list: "a JSON array", bool: "a JSON boolean",
                    type(None): "JSON null"}.get(type(item), "a number")
            raise ClassifierError(f"item {i} of the JSON array is {kind}, not a tree string; each item is one tree "
                                  "in text format in double quotes, \"1) root ...\\n2) ...\"")
        where = f"decision tree {i} of the JSON array"
        parts = _split_trees(item)
        for j, lines in enumerate(parts, 1):
            trees.append(_parse_lines(lines, where if len(parts) == 1 else f"{where} (its tree {j})"))
    return trees, True


def _tree_nodes(root: TreeNode):
    """Every node of the tree under ``root`` (itself included), depth first."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


def _leaves(root: TreeNode) -> list[TreeNode]:
    return [n for n in _tree_nodes(root) if n.leaf]


def _prob_classes(root: TreeNode, where: str = "decision tree") -> list[int] | None:
    """Class values of the probability columns, or None when the tree's leaves list no probabilities.

    Only leaves are read (an internal node's class may be a placeholder and its probabilities are not used).
    Smile (hence Earth Engine) numbers classes 0..k-1, so column i is class i; trees whose classes start at 1
    (column i is class i+1) and trees whose columns are their leaves' sorted distinct classes are accepted too.
    The first reading under which every leaf's class is its most probable one wins.

    Raises
    ------
    ClassifierError
        Leaves list different numbers of probabilities, or no reading matches the leaves' classes.
    """
    leaves = _leaves(root)
    nodes = [n for n in leaves if n.prob is not None]
    if not nodes:
        return None
    k = {len(n.prob) for n in nodes}
    if len(k) != 1:
        raise ClassifierError(f"{where}: leaves list different numbers of probabilities ({sorted(k)}); give "
                              "each leaf one probability per class, or none")
    k = k.pop()
    yvals = sorted({n.yval for n in leaves})
    candidates = [list(range(k)), list(range(1, k + 1))]
    if len(yvals) == k:
        candidates.append(yvals)
    for columns in candidates:
        ok = True
        for n in nodes:
            best = max(n.prob)
            if n.yval not in columns or n.prob[columns.index(n.yval)] < best - 1e-6:
                ok = False
                break
        if ok:
            return columns
    raise ClassifierError(
        f"{where}: the {k} probabilities of each leaf do not match its class (yval) whether read as "
        "classes 0.., 1.. or the tree's classes in order; remove the (...) to use one-hot leaves")


def _resolve_band(name: str, band_names: list[str] | None, n_features: int, where: str = "decision tree") -> int:
    """Column of band ``name``: exact, then case-insensitive ignoring leading zeros (``B4`` = ``B04``), or
    ``#i`` / ``x[i]`` / ``band_i`` for the i-th band (0-based).

    Raises
    ------
    ClassifierError
        The image has no such band (the message lists its bands).
    """
    m = re.fullmatch(r"(?:#|x\[|band_|b_)(\d+)\]?", name.strip(), re.IGNORECASE)
    if band_names:
        if name in band_names:
            return band_names.index(name)

        def norm(s):
            return re.sub(r"(?<!\d)0+(?=\d)", "", s.strip().lower())

        hits = [i for i, b in enumerate(band_names) if norm(b) == norm(name)]
        if len(hits) == 1:
            return hits[0]
    if m and int(m.group(1)) < n_features:
        return int(m.group(1))
    known = ", ".join(band_names) if band_names else f"#0..#{n_features - 1}"
    raise ClassifierError(f"{where} uses band {name!r}, which the image does not have (bands: {known})")


def _tree_wheres(text: str, n: int, ensemble: bool) -> list[str]:
    """How error messages name each of the ``n`` parsed trees."""
    if not ensemble:
        return ["decision tree"]
    import json

    out = []
    for i, item in enumerate(json.loads(text), 1):
        parts = len(_split_trees(item))
        out += [f"decision tree {i} of the JSON array" + ("" if parts == 1 else f" (its tree {j})")
                for j in range(1, parts + 1)]
    return out[:n]


class TreeTextClassifier(_Estimator):
    """A decision tree, or an ensemble of them, given as text and applied as is, as SEPAL does with a pasted
    tree (Earth Engine's ``ee.Classifier.decisionTree`` / ``decisionTreeEnsemble``; see :func:`parse_trees`).

    ``tree`` is one tree in Earth Engine's text format (:func:`parse_tree_text`), or a JSON array of such tree
    strings (``'["1) root ...\\n2) ...", "1) root ..."]'``, SEPAL's ensemble). ``fit`` learns nothing from the
    pixels; it only checks the trees, maps their band names to columns (``band_names``: the image's bands, which
    :func:`landclass_ui.model.fit` sets; without them, bands are written ``#0``, ``#1``...) and sets
    ``classes_``: the classes trained on plus the classes the trees' LEAVES predict (plus, for one tree, the
    classes of its probability columns). The class written on internal nodes is never a class of the model (a
    placeholder such as 9999 in hand-written trees).

    Prediction, for ``x`` float ``(n_pixels, n_features)`` in ``band_names`` order:

    * ``predict_proba`` -> float64 ``(n_pixels, len(classes_))`` in ``classes_`` order. One tree: the leaf's
      class distribution when the tree lists one, else one-hot on the leaf's class. An ensemble (JSON array):
      the fraction of the trees voting for each class, each tree voting for its leaf's class (a majority vote;
      leaf probabilities are not used).
    * ``predict`` -> int64 ``(n_pixels,)``: the most probable class; ties (an ensemble's even vote, a leaf's
      equal probabilities) go to the lowest class value, as ``argmax`` over ``classes_`` (sorted ascending) does
      in :func:`landclass_ui.model.predict_block` (Earth Engine's reference does not document its tie rule).
    * NaN (nodata): a pixel with NaN in ANY band the tree (for an ensemble, any of its trees) tests gets no
      class rather than the class of whichever branch a failed comparison would send it to: its
      ``predict_proba`` row is all NaN and ``predict`` returns :data:`landclass_ui.legend.NODATA_CLASS` (255,
      never a class: a leaf cannot predict 255). NaN in a band no tree tests does not matter.
      :func:`landclass_ui.model.predict_block` drops pixels with NaN in any band before calling
      ``predict_proba``, so there they become 255 anyway. Infinite values compare as numbers.

    ``fit`` raises :class:`~landclass_ui.errors.ClassifierError` when no tree is given, a tree does not parse
    (:func:`parse_trees`; the message names the tree of a JSON array and the line) or uses a band the image does
    not have.
    """

    _PARAMS = ("tree", "band_names")

    def __init__(self, tree: str | None = None, band_names: list[str] | None = None):
        self.tree = tree
        self.band_names = band_names

    def fit(self, x, y=None):
        if not self.tree:
            raise ClassifierError("decision tree: paste a tree (parameter 'tree'), e.g. the output of "
                                  "ee.Classifier.smileCart().train(...).explain()['tree'], or a JSON array of "
                                  "such trees")
        x = np.asarray(x)
        self.n_features_in_ = x.shape[1]
        self.trees_, self.ensemble_ = parse_trees(self.tree)
        wheres = _tree_wheres(self.tree, len(self.trees_), self.ensemble_)
        self.root_ = self.trees_[0]
        names = list(self.band_names) if self.band_names is not None else None
        self.columns_ = {}
        leaf_classes = set()
        prob_columns = []
        for root, where in zip(self.trees_, wheres):
            prob_columns.append(_prob_classes(root, where))
            for node in _tree_nodes(root):
                if node.var is not None and node.var not in self.columns_:
                    self.columns_[node.var] = _resolve_band(node.var, names, self.n_features_in_, where)
            leaf_classes |= {n.yval for n in _leaves(root)}
        self.used_columns_ = np.array(sorted(set(self.columns_.values())), dtype=np.intp)
        columns = None if self.ensemble_ else prob_columns[0]
        trained = set() if y is None else {int(v) for v in np.unique(np.asarray(y))}
        self.classes_ = np.array(sorted(trained | leaf_classes | set(columns or ())), dtype=np.int64)
        col = {c: i for i, c in enumerate(self.classes_)}
        self.leaf_proba_ = {}
        for node in _leaves(self.root_):
            p = np.zeros(len(self.classes_))
            if columns is not None and node.prob is not None:
                for c, v in zip(columns, node.prob):
                    p[col[c]] += v
                p /= p.sum()
            else:
                p[col[node.yval]] = 1.0
            self.leaf_proba_[node.id] = p
        return self

    def _leaf_rows(self, root: TreeNode, x: np.ndarray):
        """``(leaf, rows)`` pairs: the rows of ``x`` reaching each leaf of the tree under ``root``. A row with
        NaN in a band tested on its way stops there and reaches no leaf."""
        todo = [(root, np.arange(len(x)))]
        while todo:
            node, rows = todo.pop()
            if len(rows) == 0:
                continue
            if node.leaf:
                yield node, rows
                continue
            for child in node.children:  # one test and its opposite (checked by the parser)
                values = x[rows, self.columns_[child.var]]
                todo.append((child, rows[_OPS[child.op](values, child.value)]))

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities: float64 ``(n_pixels, len(classes_))`` in ``classes_`` order, a row of NaN for a
        pixel with NaN in a band the trees test (see the class docstring)."""
        x = np.asarray(x, dtype=np.float64)
        out = np.full((len(x), len(self.classes_)), np.nan)
        if not self.ensemble_:
            for leaf, rows in self._leaf_rows(self.root_, x):
                out[rows] = self.leaf_proba_[leaf.id]
        else:
            col = {c: i for i, c in enumerate(self.classes_)}
            votes = np.zeros((len(x), len(self.classes_)))
            for root in self.trees_:
                for leaf, rows in self._leaf_rows(root, x):
                    votes[rows, col[leaf.yval]] += 1
            out[:] = votes / len(self.trees_)
        out[np.isnan(x[:, self.used_columns_]).any(axis=1)] = np.nan
        return out

    def predict(self, x) -> np.ndarray:
        """Classes: int64 ``(n_pixels,)``, the most probable class (ties: the lowest class value), or
        :data:`~landclass_ui.legend.NODATA_CLASS` (255) for a pixel with NaN in a band the trees test."""
        proba = self.predict_proba(x)
        out = np.full(len(proba), NODATA_CLASS, dtype=np.int64)
        ok = ~np.isnan(proba).any(axis=1)
        out[ok] = self.classes_[proba[ok].argmax(axis=1)]
        return out

    def __repr__(self) -> str:
        return f"TreeTextClassifier(<{0 if not self.tree else len(str(self.tree).splitlines())} lines>)"


def _check_tree(text: str) -> None:
    """Reject a tree (or JSON array of trees) that cannot be parsed when it is entered, not when the map is
    made.

    Raises
    ------
    ClassifierError
        As :func:`parse_trees`, and leaf probabilities that do not match the leaf classes; the message names
        the tree of a JSON array and the line (``decision tree 2 of the JSON array: line 3 ...``).
    """
    trees, ensemble = parse_trees(text)
    for root, where in zip(trees, _tree_wheres(text, len(trees), ensemble)):
        _prob_classes(root, where)


#: A decision tree pasted as text, as in SEPAL (Earth Engine's tree format: ``explain()['tree']`` of smileCart,
#: see :func:`parse_tree_text`), or a JSON array of such trees (SEPAL's ensemble: majority vote, see
#: :func:`parse_trees`). Nothing is learnt; the training pixels only fix the legend classes.
DECISION_TREE = ClassifierSpec(
    name="decision-tree",
    label="Decision tree (pasted)",
    params=(
        Param("tree", str, None, "the tree in Earth Engine's text format (explain()['tree'] of smileCart), "
              "lines like '2) B8A<=0.05 600 10 3 (0.01 0.01 0.98) *', or a JSON array of such trees "
              "[\"1) root ...\\n2) ...\", ...] for a majority vote", none_ok=True, check=_check_tree),
    ),
    build=lambda tree: TreeTextClassifier(tree),
    short=("tree",),
    aliases=("tree", "decisiontree", "decision_tree", "ee-tree"),
    doc="a pasted tree in Earth Engine's text format; probabilities are the leaf's class distribution "
        "(one-hot when the tree lists none); a JSON array of trees votes (probabilities: share of the votes)",
)


#: Classifiers whose estimator starts with a min-max scaler (SEPAL's ``normalize``): the methods that need it.
SCALED = ("svm", "minimum-distance")


def _final_step(estimator):
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def feature_importance(model, band_names: list[str] | None = None):
    """Impurity-based importance of each band for the tree methods (random forest, gradient tree boosting,
    CART): a :class:`pandas.Series` indexed by band name, summing to 1, largest first; None for the others (and
    for a tree that never split). Histogram gradient boosting is one of the others: scikit-learn's
    HistGradientBoostingClassifier has no ``feature_importances_`` (its docs point to permutation importance,
    which needs labelled pixels to score on), so it gets None.

    ``model`` is a :class:`landclass_ui.classify.TrainedModel` (its band names are used) or a fitted estimator
    (bands then named by ``band_names``, else ``#0``, ``#1``...).
    """
    import pandas as pd

    trained = hasattr(model, "band_names") and hasattr(model, "legend")  # a TrainedModel, not an estimator
    estimator = model.estimator if trained else model
    names = band_names if band_names is not None else (model.band_names if trained else None)
    values = getattr(_final_step(estimator), "feature_importances_", None)
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).all() or values.sum() <= 0:
        return None
    if names is None:
        names = [f"#{i}" for i in range(len(values))]
    series = pd.Series(values / values.sum(), index=list(names), name="importance")
    return series.sort_values(ascending=False)


#: Registered classifiers by stable name.
CLASSIFIERS: dict[str, ClassifierSpec] = {spec.name: spec for spec in (
    RANDOM_FOREST, GRADIENT_TREE_BOOST, HIST_GRADIENT_BOOSTING, CART, NAIVE_BAYES, SVM, MINIMUM_DISTANCE,
    DECISION_TREE)}
DEFAULT_CLASSIFIER = "random-forest"


def get_spec(name: str) -> ClassifierSpec:
    """The :class:`ClassifierSpec` named ``name`` (or one of its aliases).

    Raises
    ------
    ClassifierError
        Unknown name (the message lists the known ones).
    """
    key = str(name).strip().lower()
    for spec in CLASSIFIERS.values():
        if key == spec.name or key in spec.aliases:
            return spec
    raise ClassifierError(f"unknown classifier {name!r}; available: {', '.join(CLASSIFIERS)}")


def parse_params(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """All parameters of a classifier: defaults overridden by ``params`` (strings or JSON values), checked.

    Raises
    ------
    ClassifierError
        Unknown parameter (the message lists the valid ones) or invalid value.
    """
    spec = get_spec(name)
    known = {p.name: p for p in spec.params}
    out = spec.defaults()
    for key, value in (params or {}).items():
        if key not in known:
            raise ClassifierError(
                f"{spec.name} has no parameter {key!r}; its parameters are {', '.join(known)}"
            )
        out[key] = known[key].parse(value)
    return out


def parse_param_args(items: list[str] | None) -> dict[str, str]:
    """``["n_trees=50", "seed=3"]`` -> ``{"n_trees": "50", "seed": "3"}``.

    Raises
    ------
    ClassifierError
        An item without ``=``.
    """
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ClassifierError(f"--param {item!r} must look like name=value, e.g. n_trees=50")
        out[key.strip()] = value.strip()
    return out


def make_classifier(name: str = DEFAULT_CLASSIFIER, params: Mapping[str, Any] | None = None):
    """A scikit-learn estimator for classifier ``name`` with ``params`` (validated, defaults filled in)."""
    spec = get_spec(name)
    return spec.build(**parse_params(spec.name, params))

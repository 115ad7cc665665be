"""Classifier registry: each classifier is a name, its parameters (stable names, defaults, ranges) and a
factory building a scikit-learn estimator.

Parameters are stored in the recipe by these stable names (SEPAL's vocabulary, e.g. ``n_trees``) and can be
given on the command line as ``--param n_trees=50``. A new classifier is one :class:`ClassifierSpec` added to
:data:`CLASSIFIERS`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import ClassifierError

__all__ = ["Param", "ClassifierSpec", "CLASSIFIERS", "DEFAULT_CLASSIFIER", "make_classifier", "parse_params"]


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
        except (TypeError, ValueError):
            raise ClassifierError(
                f"parameter {self.name}={value!r} is not a {self.kind.__name__} ({self.help})"
            ) from None
        if self.minimum is not None and out < self.minimum or self.maximum is not None and out > self.maximum:
            lo = "" if self.minimum is None else f"{self.minimum:g}"
            hi = "" if self.maximum is None else f"{self.maximum:g}"
            raise ClassifierError(f"parameter {self.name}={out} is outside [{lo}, {hi}] ({self.help})")
        if self.choices and out not in self.choices:
            raise ClassifierError(f"parameter {self.name}={out!r} must be one of {', '.join(self.choices)}")
        return out


@dataclass(frozen=True)
class ClassifierSpec:
    """A classifier: stable ``name``, display ``label``, ``params`` and ``build(**params) -> estimator``.

    ``short`` names the parameters shown first in the dashboard's short form.
    """

    name: str
    label: str
    params: tuple[Param, ...]
    build: Callable[..., Any]
    short: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())

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
)

#: Registered classifiers by stable name.
CLASSIFIERS: dict[str, ClassifierSpec] = {spec.name: spec for spec in (RANDOM_FOREST,)}
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

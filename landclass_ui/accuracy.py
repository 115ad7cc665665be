"""Accuracy assessment and area estimation from a validation sample.

:func:`assess` takes the reference (true) and mapped class of each sample unit and returns an
:class:`AccuracyReport`: the confusion matrix, overall, user's and producer's accuracy, F1, kappa and the
estimated area of each class, each estimate with its **standard error** (the report's tables show 95%
confidence intervals, estimate +/- 1.96 SE).

Two sampling designs are supported.

Stratified by map class (``mapped_area`` given)
    The estimators of Olofsson et al. (2013, 2014), for stratified random sampling with the map classes as
    strata (they are also the poststratified estimators for simple random or systematic samples). With
    ``n_ij`` the sample count of map class *i* and reference class *j*, ``n_i.`` the sample size of map class
    *i*, ``A_i`` its mapped area and ``W_i = A_i / A`` its share of the map::

        p_ij = W_i n_ij / n_i.                       estimated proportion of area of cell (i, j)
        OA = sum_i p_ii;  UA_i = p_ii / p_i.;  PA_j = p_jj / p_.j
        area_j = A p_.j                               (A = sum_i A_i)
        V(OA)    = sum_i W_i^2 UA_i (1 - UA_i) / (n_i. - 1)
        V(UA_i)  = UA_i (1 - UA_i) / (n_i. - 1)
        V(PA_j)  = 1 / N_.j^2 [ N_j.^2 (1 - PA_j)^2 UA_j (1 - UA_j) / (n_j. - 1)
                   + PA_j^2 sum_{i != j} N_i.^2 (n_ij / n_i.)(1 - n_ij / n_i.) / (n_i. - 1) ]
                   (eq. 7 of the 2014 paper) with N_i. the mapped area of class i and
                   N_.j = sum_i N_i. n_ij / n_i. (computed here with W and p_.j, the scale cancels)
        V(p_.j)  = sum_i W_i^2 (n_ij / n_i.)(1 - n_ij / n_i.) / (n_i. - 1);   SE(area_j) = A SE(p_.j)

Simple random sample (no ``mapped_area``)
    Every unit had the same chance of selection, so ``p_ij = n_ij / n`` (``W_i = n_i. / n``) and the
    estimators are the sample proportions. Standard errors are those of a proportion estimated from a simple
    random sample without finite population correction, with ``n - 1`` denominators (Cochran 1977, ch. 3;
    Stehman & Foody 2019): ``V(OA) = OA (1 - OA) / (n - 1)``, ``V(UA_i) = UA_i (1 - UA_i) / (n_i. - 1)``,
    ``V(PA_j) = PA_j (1 - PA_j) / (n_.j - 1)`` (user's and producer's accuracy are treated as proportions
    of the units mapped as, resp. labelled as, the class; the usual conditional approximation) and
    ``V(p_.j) = p_.j (1 - p_.j) / (n - 1)``. ``area`` then holds proportions of the sampled population.
    Pixels of training polygons are *not* a simple random sample (neighbouring pixels are alike): the
    estimates are fine, their standard errors are optimistic.

Kappa
    Cohen's kappa computed from the estimated proportion matrix ``p_ij``: ``(p_o - p_e) / (1 - p_e)`` with
    ``p_o = sum p_ii`` and ``p_e = sum p_i. p_.i``. Without areas it is the usual unweighted Cohen's kappa of
    the sample (what :func:`sklearn.metrics.cohen_kappa_score` gives). It is reported because it is asked
    for; Olofsson et al. (2014) and Pontius & Millones (2011) advise against using it. No standard error.

F1
    The harmonic mean of user's and producer's accuracy of a class, ``2 UA PA / (UA + PA)`` (0 when both
    are 0, NaN when either is undefined).

Classes present on one side only (the formulas of the papers applied as they stand, nothing special-cased):

* a class in the reference sample but never mapped (no sample unit mapped as it, zero or no mapped area):
  user's accuracy is undefined (NaN, with NaN SE); producer's accuracy is 0 (the map has none of it), its
  estimated area comes from the units of other map classes labelled as it in the reference;
* a class mapped but never found in the reference sample: user's accuracy 0 with SE 0, producer's accuracy
  undefined (NaN: 0/0), estimated area 0 with SE 0;
* a class in ``mapped_area`` only (no sample unit on either side) with area 0 is listed with NaN/0 values;
  with an area > 0 it is an error, the stratum having no sample.

A map class with a single sample unit has no variance estimate: its terms in the standard errors are NaN
(so are the SEs that sum them), not 0.

References
----------
Olofsson, P., Foody, G. M., Stehman, S. V., Woodcock, C. E. (2013). Making better use of accuracy data in
land change studies: Estimating accuracy and area and quantifying uncertainty using stratified estimation.
Remote Sensing of Environment 129, 122-131.

Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V., Woodcock, C. E., Wulder, M. A. (2014). Good practices
for estimating area and assessing accuracy of land change. Remote Sensing of Environment 148, 42-57.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import LandclassError

__all__ = ["assess", "AccuracyReport", "AccuracyError", "Z95"]

#: Standard normal quantile of a two-sided 95% confidence interval.
Z95 = 1.959963984540054


class AccuracyError(LandclassError, ValueError):
    """The validation sample or the mapped areas cannot be used (unequal lengths, missing labels, a map
    class with area but no sample unit, negative areas)."""


@dataclass
class AccuracyReport:
    """Accuracy and area estimates from a validation sample (see :func:`assess` and the module notes).

    Attributes
    ----------
    confusion_matrix : pandas.DataFrame
        Sample counts, rows = map class, columns = reference class (both indexed by every class).
    proportions : pandas.DataFrame
        Estimated proportions of area ``p_ij`` (same layout; sums to 1).
    overall_accuracy, overall_accuracy_se, kappa : float
    users_accuracy, users_accuracy_se, producers_accuracy, producers_accuracy_se, f1 : pandas.Series
        Indexed by class.
    area, area_se : pandas.Series
        Estimated area of each class (reference), in the unit of ``mapped_area``; proportions (sum 1) when
        no areas were given.
    mapped_area : pandas.Series or None
        The mapped areas used as strata weights (None: simple random sample).
    n : int
        Sample size.
    """

    confusion_matrix: pd.DataFrame
    proportions: pd.DataFrame
    overall_accuracy: float
    overall_accuracy_se: float
    kappa: float
    users_accuracy: pd.Series
    users_accuracy_se: pd.Series
    producers_accuracy: pd.Series
    producers_accuracy_se: pd.Series
    f1: pd.Series
    area: pd.Series
    area_se: pd.Series
    mapped_area: pd.Series | None = None
    n: int = 0

    @property
    def stratified(self) -> bool:
        """True when the estimates are stratified by map class (``mapped_area`` was given)."""
        return self.mapped_area is not None

    @property
    def classes(self) -> list:
        return list(self.confusion_matrix.index)

    def interval(self, name: str, z: float = Z95):
        """``(low, high)`` of the normal-approximation confidence interval of an estimate (default 95%).

        ``name`` is ``"overall_accuracy"``, ``"users_accuracy"``, ``"producers_accuracy"`` or ``"area"``;
        Series for the per-class ones. Bounds are not clipped.
        """
        value, se = getattr(self, name), getattr(self, name + "_se")
        return value - z * se, value + z * se

    def to_frame(self) -> pd.DataFrame:
        """One row per class: sample counts (``n_map``: units mapped as the class, ``n_reference``: units
        labelled as it), ``mapped_area`` (stratified case), the accuracies and area with their standard
        errors, and F1. Overall accuracy, its SE and kappa are in ``frame.attrs``."""
        cm = self.confusion_matrix
        frame = pd.DataFrame(
            {
                "n_map": cm.sum(axis=1),
                "n_reference": cm.sum(axis=0),
            }
        )
        if self.mapped_area is not None:
            frame["mapped_area"] = self.mapped_area
        for name in ("users_accuracy", "users_accuracy_se", "producers_accuracy", "producers_accuracy_se",
                     "f1", "area", "area_se"):
            frame[name] = getattr(self, name)
        frame.index.name = "class"
        frame.attrs = {
            "overall_accuracy": self.overall_accuracy,
            "overall_accuracy_se": self.overall_accuracy_se,
            "kappa": self.kappa,
            "n": self.n,
            "stratified": self.stratified,
        }
        return frame

    def to_markdown(self, *, area_format: str = ",.0f") -> str:
        """The report as Markdown: a summary line, the per-class table with 95% confidence intervals
        (``estimate [low, high]``, bounds clipped to the possible range: 0-1 for accuracies, >= 0 for areas)
        and the confusion matrix of sample counts."""

        def acc(value, se, bounds=(0.0, 1.0)):
            if not np.isfinite(value):
                return "n/a"
            if not np.isfinite(se):
                return f"{value:.3f} [n/a]"
            low, high = max(bounds[0], value - Z95 * se), min(bounds[1], value + Z95 * se)
            return f"{value:.3f} [{low:.3f}, {high:.3f}]"

        def area(value, se):
            if not np.isfinite(value):
                return "n/a"
            if not np.isfinite(se):
                return f"{value:{area_format}} [n/a]"
            low, high = max(0.0, value - Z95 * se), value + Z95 * se
            return f"{value:{area_format}} [{low:{area_format}}, {high:{area_format}}]"

        design = (
            "stratified by map class (Olofsson et al. 2014)" if self.stratified else "simple random sample"
        )
        lines = [
            f"Overall accuracy: {acc(self.overall_accuracy, self.overall_accuracy_se)}; "
            f"kappa: {self.kappa:.3f}; {self.n} sample units, {design}.",
            "",
            "Values are estimates with their 95% confidence interval [low, high] (estimate ± 1.96 standard "
            "errors).",
            "",
        ]
        area_head = "Estimated area" if self.stratified else "Estimated proportion"
        fmt_area = area if self.stratified else (lambda v, s: acc(v, s))
        header = ["Class", "n (map)", "n (reference)", "User's accuracy", "Producer's accuracy", "F1",
                  area_head]
        rows = []
        cm = self.confusion_matrix
        for c in cm.index:
            f1 = self.f1[c]
            rows.append([
                _md_escape(c), str(int(cm.loc[c].sum())), str(int(cm[c].sum())),
                acc(self.users_accuracy[c], self.users_accuracy_se[c]),
                acc(self.producers_accuracy[c], self.producers_accuracy_se[c]),
                f"{f1:.3f}" if np.isfinite(f1) else "n/a",
                fmt_area(self.area[c], self.area_se[c]),
            ])
        lines += _md_table(header, rows)
        lines += ["", "Confusion matrix (sample counts; rows: map, columns: reference):", ""]
        lines += _md_table(
            ["map \\ reference", *(_md_escape(c) for c in cm.columns)],
            [[_md_escape(i), *(str(int(v)) for v in cm.loc[i])] for i in cm.index],
        )
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.to_markdown()


def _md_escape(value) -> str:
    return str(value).replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _class_order(reference, mapped, mapped_area) -> list:
    """Classes of ``mapped_area`` (its order) then the others, sorted when they can be, else as met."""
    seen: dict = {}
    if mapped_area is not None:
        for c in mapped_area:
            seen.setdefault(c, None)
    rest = {}
    for c in [*mapped, *reference]:
        if c not in seen:
            rest.setdefault(c, None)
    try:
        extra = sorted(rest)
    except TypeError:
        extra = list(rest)
    return [*seen, *extra]


def _labels(values, name: str) -> list:
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.tolist()
    elif isinstance(values, np.ndarray):
        values = values.tolist()
    else:
        values = list(values)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            raise AccuracyError(f"{name} label {i} is missing; every sample unit needs a class")
    return values


def assess(reference: Sequence[Hashable], mapped: Sequence[Hashable],
           mapped_area: Mapping[Hashable, float] | None = None) -> AccuracyReport:
    """Accuracy and area estimates from a validation sample.

    Parameters
    ----------
    reference, mapped : sequence of hashable
        The reference (true) class and the map class of each sample unit; equal lengths, any hashable labels
        (legend values or names).
    mapped_area : mapping, optional
        ``{map class: mapped area}`` (pixel counts or any area unit) of every class of the map. When given,
        the estimates are stratified by map class (Olofsson et al. 2013, 2014) and areas are in its unit;
        otherwise the sample is taken as simple random and areas are proportions. Every class mapped in the
        sample needs an entry; reference-only classes may be left out (area 0).

    Returns
    -------
    AccuracyReport

    Raises
    ------
    AccuracyError
        Unequal lengths, an empty sample, a missing label, a negative or non-finite area, a mapped class with
        no area, or a class with mapped area > 0 but no sample unit.

    Examples
    --------
    >>> r = assess(["forest", "forest", "water", "water"], ["forest", "water", "water", "water"])
    >>> r.overall_accuracy, float(r.users_accuracy["forest"]), float(r.producers_accuracy["water"])
    (0.75, 1.0, 1.0)
    """
    reference = _labels(reference, "reference")
    mapped = _labels(mapped, "mapped")
    if len(reference) != len(mapped):
        raise AccuracyError(
            f"reference and mapped classes differ in length ({len(reference)} and {len(mapped)}); give one "
            "of each per sample unit"
        )
    if not reference:
        raise AccuracyError("the validation sample is empty")
    areas = None
    if mapped_area is not None:
        areas = {k: float(v) for k, v in dict(mapped_area).items()}
        bad = [k for k, v in areas.items() if not np.isfinite(v) or v < 0]
        if bad:
            raise AccuracyError(f"mapped area of class(es) {', '.join(map(repr, bad))} is negative or not a number")
        missing = [c for c in dict.fromkeys(mapped) if c not in areas]
        if missing:
            raise AccuracyError(
                f"class(es) {', '.join(map(repr, missing))} are mapped in the sample but have no mapped area; "
                f"give the area of every map class (mapped_area has {', '.join(map(repr, areas))})"
            )
        if sum(areas.values()) <= 0:
            raise AccuracyError("the mapped areas sum to 0")
    classes = _class_order(reference, mapped, areas)
    index = pd.Index(classes, tupleize_cols=False)
    q = len(classes)
    pos = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((q, q), dtype=np.int64)
    np.add.at(counts, ([pos[m] for m in mapped], [pos[r] for r in reference]), 1)
    n = int(counts.sum())
    n_i = counts.sum(axis=1).astype(float)  # units per map class
    n_j = counts.sum(axis=0).astype(float)  # units per reference class
    diag = np.diag(counts).astype(float)

    with np.errstate(divide="ignore", invalid="ignore"):
        if areas is not None:
            a = np.array([areas.get(c, 0.0) for c in classes])
            empty = [c for c, ai, ni in zip(classes, a, n_i) if ai > 0 and ni == 0]
            if empty:
                raise AccuracyError(
                    f"map class(es) {', '.join(map(repr, empty))} cover part of the map but have no sample unit; "
                    "the stratified estimates need at least two units in each map class"
                )
            total = a.sum()
            w = a / total
            frac = np.where(n_i[:, None] > 0, counts / n_i[:, None], 0.0)  # n_ij / n_i.
            p = w[:, None] * frac
            ua = np.where(n_i > 0, diag / n_i, np.nan)
            col = p.sum(axis=0)
            pa = np.where(col > 0, np.diag(p) / col, np.nan)
            oa = float(np.trace(p))
            # a stratum of weight 0 adds nothing; one of a single unit has no variance estimate (NaN)
            dof = n_i - 1
            ua_term = np.where(w > 0, ua * (1 - ua) / dof, 0.0)
            oa_se = float(np.sqrt(np.sum(w**2 * ua_term)))
            ua_se = np.sqrt(ua * (1 - ua) / dof)
            cell = np.where(w[:, None] > 0, frac * (1 - frac) / dof[:, None], 0.0)  # per stratum i, class j
            w2cell = w[:, None] ** 2 * cell
            p_se = np.sqrt(w2cell.sum(axis=0))
            pa_se = np.full(q, np.nan)
            for j in range(q):
                if not col[j] > 0:
                    continue
                first = w[j] ** 2 * (1 - pa[j]) ** 2 * ua_term[j] if w[j] > 0 else 0.0
                others = np.delete(w2cell[:, j], j).sum()
                pa_se[j] = np.sqrt((first + pa[j] ** 2 * others) / col[j] ** 2)
            area = total * col
            area_se = total * p_se
            mapped_series = pd.Series(a, index=index, name="mapped_area")
        else:
            p = counts / n
            ua = np.where(n_i > 0, diag / n_i, np.nan)
            pa = np.where(n_j > 0, diag / n_j, np.nan)
            oa = float(diag.sum() / n)
            oa_se = float(np.sqrt(oa * (1 - oa) / (n - 1))) if n > 1 else float("nan")
            ua_se = np.sqrt(ua * (1 - ua) / (n_i - 1))
            pa_se = np.sqrt(pa * (1 - pa) / (n_j - 1))
            area = n_j / n
            area_se = np.sqrt(area * (1 - area) / (n - 1)) if n > 1 else np.full(q, np.nan)
            mapped_series = None
        f1 = np.where(ua + pa > 0, 2 * ua * pa / (ua + pa), np.where((ua == 0) & (pa == 0), 0.0, np.nan))
        f1 = np.where(np.isfinite(ua) & np.isfinite(pa), f1, np.nan)
        row, colp = p.sum(axis=1), p.sum(axis=0)
        po, pe = float(np.trace(p)), float(np.sum(row * colp))
        kappa = (po - pe) / (1 - pe) if pe < 1 else float("nan")

    def series(values, name):
        return pd.Series(np.asarray(values, dtype=float), index=index, name=name)

    cm = pd.DataFrame(counts, index=index.copy(), columns=index.copy())
    cm.index.name, cm.columns.name = "map", "reference"
    props = pd.DataFrame(p, index=index.copy(), columns=index.copy())
    props.index.name, props.columns.name = "map", "reference"
    return AccuracyReport(
        confusion_matrix=cm,
        proportions=props,
        overall_accuracy=oa,
        overall_accuracy_se=oa_se,
        kappa=float(kappa),
        users_accuracy=series(ua, "users_accuracy"),
        users_accuracy_se=series(ua_se, "users_accuracy_se"),
        producers_accuracy=series(pa, "producers_accuracy"),
        producers_accuracy_se=series(pa_se, "producers_accuracy_se"),
        f1=series(f1, "f1"),
        area=series(area, "area"),
        area_se=series(area_se, "area_se"),
        mapped_area=mapped_series,
        n=n,
    )

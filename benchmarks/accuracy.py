"""Benchmark: which default recipe is the most accurate? One table of overall accuracy (OA) on every labelled real
data set in the repository, for the tutorial's plain random forest (RF-25, default parameters, raw bands) against
each option alone (spectral indices, regularization of the map, every classifier) and against the combinations of
the options that help; then the recommendation that follows from the rule of :func:`recommend`, and the live map's
cost per click of each classifier (the default must keep the README's 0.5 s from click to map).

Data sets and designs
---------------------
* **S2 Toulouse**: the bundled Sentinel-2 scene (60 m, B02 B03 B04 B8A, 1830 x 1830 px), trained on all the
  tutorial's polygons and scored against two *independent* annotators' polygons
  (``tests/data/s2_t31tcj/polygons_emunaibari.geojson``, ``farmland`` = FARM; ``polygons_nbertaud.geojson``, one
  polygon per class), as ``benchmarks/indices.py`` does: the written class map read at the reference pixels, OA
  stratified by mapped area (Olofsson et al. 2014) as ``pipeline.run(..., reference=...)`` reports it. Cells:
  mean OA over the forest seeds 1, 2, 3 (random forest, gradient tree boost; the other classifiers are
  deterministic here) +- 1.96 SE.
* **L5 Amazon** (Landsat 5 TM B1-B5, B7, 36 polygons) and **S2 Amazon** (12-band Sentinel-2 L2A, 25 polygons):
  polygon hold-out, half of each class's polygons held out whole (``pipeline.hold_out``, stratified by class),
  over ``--splits`` distinct splits; the model learns from the other half, the whole scene is classified and
  written (``export.write_classification``), regularized as ``export`` does it (``regularize.regularize_file`` on
  the written map), and that map is read at the held-out pixels (simple random estimators). Cells: mean OA over
  the splits +- the standard deviation over the splits.
* **S2 T11UPT** (6 bands at 60 m with an SCL, 8 polygons, ``MC_name``) and **L8 T11UPT** (89 points labelled
  from an SCP classification map, see ``tests/data/SOURCE.md``): the same hold-out, shown but **not counted** in
  the mean. T11UPT's 8 polygons are each of a different sub-class (``C_name``: Built Up / Road, Trees /
  Vegetation, Bare Earth x 2 / Hail Scar, Lake) and Water has one, so only 12 distinct splits exist, each trains
  on one polygon per class and validates on sub-classes it never saw: its OA varies by about 0.2 between splits,
  ten times the differences decided here. L8's labels come from a map (agreement with that map, not accuracy).

Every cell comes from the map that was written, so the majority filter and the sieve are scored as exported.
(``pipeline.run(..., validation_ratio=...)`` scores the held-out pixels with ``model.estimator.predict``, not from
the written map, so its hold-out OA ignores the regularization; the checks at the end show it.) The accuracy part
runs with OpenMP limited to one thread (``threadpoolctl``; results do not depend on it): on a loaded 2-core machine
histogram gradient boosting's OpenMP threads otherwise spin (a 3,000-pixel fit took 9.5 s instead of 0.24 s). The
live timings run as the dashboard runs (no limit), so they depend on the machine's load, printed with them.

Run with (5-7 minutes on a shared 2-core machine at load 3-5)::

    .venv/bin/python benchmarks/accuracy.py [--splits 8] [--repeats 3]
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests/data"
ANNOTATORS = {
    "emunaibari": DATA / "s2_t31tcj/polygons_emunaibari.geojson",
    "nbertaud": DATA / "s2_t31tcj/polygons_nbertaud.geojson",
}
REMAP = {"farmland": "FARM"}  # the annotators' class names -> the tutorial's
#: index sets tried; each data set keeps those its bands support (the bundled scene has no SWIR band)
INDEX_SETS = {
    "": (),
    "NDVI+NDWI": ("ndvi", "ndwi"),
    "5 NDs": ("ndvi", "ndwi", "ndmi", "mndwi", "nbr"),
}
#: classifiers whose result depends on their seed with default parameters (bagging, subsampling); the others are
#: deterministic here (hist-gradient-boosting's seed only draws the early-stopping hold-out, off by default)
STOCHASTIC = {"random-forest", "gradient-tree-boost"}
FOREST_SEEDS = (1, 2, 3)
TIE = 0.005  # a difference of mean OA below this is a tie, which goes to the simpler recipe
LATENCY_S = 0.5  # README: 0.5 s from a click to the new map of the whole scene
MARGIN = 0.0005  # a score column counts as better / worse than the baseline beyond this


@dataclass(frozen=True)
class DataSet:
    key: str
    title: str
    images: tuple[str, ...]
    training: str
    class_field: str
    sensor: str
    annotators: tuple[str, ...] = ()  # independent reference polygons; else polygon hold-out
    counted: bool = True  # in the mean and in the rule

    @property
    def columns(self) -> list[str]:
        return [f"{self.title} vs {a}" for a in self.annotators] or [self.title]


def data_sets() -> list[DataSet]:
    from landclass_ui.sample import sample_paths

    s = sample_paths()
    return [
        DataSet("toulouse", "S2 Toulouse", (s.safe,), s.polygons, s.class_field, "sentinel-2", tuple(ANNOTATORS)),
        DataSet("l5", "L5 Amazon", tuple(str(DATA / f"l5_amazon/LT52240631988227CUB02_B{i}.TIF")
                                         for i in (1, 2, 3, 4, 5, 7)),
                str(DATA / "l5_amazon/training_polygons.gpkg"), "class", "landsat-5-7"),
        DataSet("s2am", "S2 Amazon", (str(DATA / "s2_amazon/sen2_L2A_12band.tif"),),
                str(DATA / "s2_amazon/training_polygons.geojson"), "class", "sentinel-2"),
        DataSet("t11", "S2 T11UPT ²", tuple(sorted(str(p) for p in (DATA / "s2_t11upt").glob("T11UPT_*_B*_60m.jp2"))),
                str(DATA / "s2_t11upt/landcover.shp"), "MC_name", "sentinel-2", counted=False),
        DataSet("l8", "L8 T11UPT ²", tuple(sorted(str(p) for p in (DATA / "l8_t11upt").glob("LC08_*_SR_B*.tif"))),
                str(DATA / "l8_t11upt/training_points.shp"), "MC_name", "landsat-8-9", counted=False),
    ]


@dataclass(frozen=True)
class Config:
    """One row: features, classifier (default parameters), regularization of the written map, cloud mask."""

    label: str
    indices: str = ""
    classifier: str = "random-forest"
    majority: int | None = None
    mmu: int | None = None
    cloud_mask: bool = True

    @property
    def options(self) -> int:
        """How many departures from the baseline (for ties: fewer is simpler)."""
        return (bool(self.indices) + (self.classifier != "random-forest") + (self.majority is not None)
                + (self.mmu is not None) + (not self.cloud_mask))

    def describe(self) -> str:
        parts = ["RF-25" if self.classifier == "random-forest" else self.classifier,
                 f"+ {self.indices}" if self.indices else "raw bands"]
        if self.majority:
            parts.append(f"majority {self.majority}")
        if self.mmu:
            parts.append(f"MMU {self.mmu} px")
        return ", ".join(parts)


BASELINE = Config("baseline: RF-25, raw bands")
CLASSIFIER_ROWS = ["gradient-tree-boost", "hist-gradient-boosting", "cart", "naive-bayes", "svm", "minimum-distance"]
ROWS = [
    BASELINE,
    replace(BASELINE, label="cloud mask off", cloud_mask=False),
    replace(BASELINE, label="+ NDVI, NDWI", indices="NDVI+NDWI"),
    replace(BASELINE, label="+ NDVI, NDWI, NDMI, MNDWI, NBR", indices="5 NDs"),
    replace(BASELINE, label="majority 3", majority=3),
    replace(BASELINE, label="majority 5", majority=5),
    replace(BASELINE, label="majority 7", majority=7),
    replace(BASELINE, label="MMU 4 px (sieve)", mmu=4),
    replace(BASELINE, label="MMU 9 px (sieve)", mmu=9),
    replace(BASELINE, label="majority 5 + MMU 4 px", majority=5, mmu=4),
    *[replace(BASELINE, label=name, classifier=name) for name in CLASSIFIER_ROWS],
]
#: rows shown for evidence beyond the rule's steps: the classifiers the live target rules out, with the options kept
EXTRA = [
    Config("extra: svm + NDVI, NDWI", indices="NDVI+NDWI", classifier="svm"),
    Config("extra: svm + NDVI, NDWI, majority 3", indices="NDVI+NDWI", classifier="svm", majority=3),
    Config("extra: gradient-tree-boost + NDVI, NDWI, majority 3", indices="NDVI+NDWI",
           classifier="gradient-tree-boost", majority=3),
]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Score:
    oa: float
    se: float
    agreement: float  # unweighted share of reference pixels mapped right (benchmarks/indices.py's figure)


class Bench:
    """Prepares each data set once per feature set, writes each map once and scores it (cached)."""

    def __init__(self, tmp: str, n_splits: int):
        self.tmp = Path(tmp)
        self.n_splits = n_splits
        self._prepared: dict = {}
        self._maps: dict = {}
        self._scores: dict = {}
        self._references: dict = {}
        self._splits: dict = {}
        self.changed: dict = {}  # (config key, seed) -> RegularizeResult of the bundled scene
        self.maps_written = 0

    # --- inputs --------------------------------------------------------------------------------------------

    def indices(self, ds: DataSet, name: str) -> tuple[str, ...]:
        """The indices of set ``name`` that the data set's bands support."""
        from landclass_ui.indices import available_indices
        from landclass_ui.sensors import resolve_roles

        if not INDEX_SETS[name]:
            return ()
        stack = self.prepared(ds, (), True).stack
        available = available_indices(resolve_roles(stack.image_bands, ds.sensor), ds.sensor)
        return tuple(i for i in INDEX_SETS[name] if i in available)

    def prepared(self, ds: DataSet, indices: tuple[str, ...], cloud_mask: bool):
        from landclass_ui.pipeline import prepare
        from landclass_ui.recipe import CloudMaskRef, DerivedRef, ImageRef, Recipe, TrainingRef

        key = (ds.key, indices, cloud_mask)
        if key not in self._prepared:
            recipe = Recipe(name="bench", images=[ImageRef(p) for p in ds.images],
                            training=[TrainingRef("file", ds.training, ds.class_field)],
                            derived=DerivedRef(indices=list(indices), sensor=ds.sensor),
                            cloud_mask=CloudMaskRef(enabled=cloud_mask))
            self._prepared[key] = prepare(recipe)
        return self._prepared[key]

    def has_mask(self, ds: DataSet) -> bool:
        return bool(self.prepared(ds, (), True).stack.masks)

    def reference_pixels(self, ds: DataSet) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
        """Per annotator: rows, cols and class names of the reference pixels (centre inside a polygon)."""
        from landclass_ui.pipeline import read_reference
        from landclass_ui.recipe import TrainingRef
        from landclass_ui.training import extract_samples

        if ds.key not in self._references:
            prepared = self.prepared(ds, (), True)
            out = {}
            for name in ds.annotators:
                ref = read_reference(TrainingRef("file", str(ANNOTATORS[name]), "class"), prepared, REMAP)
                frame = extract_samples(prepared.stack, ref.frame, prepared.legend).frame
                out[name] = (frame["row"].to_numpy(), frame["col"].to_numpy(), list(frame["label"]))
            self._references[ds.key] = out
        return self._references[ds.key]

    def split_seeds(self, ds: DataSet) -> list[int]:
        """Seeds of up to ``n_splits`` distinct polygon hold-outs (T11UPT has only 12)."""
        from landclass_ui.pipeline import hold_out

        if ds.key not in self._splits:
            samples = self.prepared(ds, (), True).samples
            seen, seeds = set(), []
            for seed in range(200):
                key = frozenset(hold_out(samples, 0.5, seed=seed).validation.frame["group"])
                if key not in seen:
                    seen.add(key)
                    seeds.append(seed)
                if len(seeds) == self.n_splits:
                    break
            self._splits[ds.key] = seeds
        return self._splits[ds.key]

    # --- maps ----------------------------------------------------------------------------------------------

    def raw_map(self, ds: DataSet, cfg: Config, seed: int):
        """Fit and write the unregularized class map; returns (path, prepared, validation samples or None)."""
        from landclass_ui import export
        from landclass_ui.model import fit
        from landclass_ui.pipeline import hold_out

        indices = self.indices(ds, cfg.indices)
        key = (ds.key, indices, cfg.classifier, cfg.cloud_mask, seed)
        if key not in self._maps:
            prepared = self.prepared(ds, indices, cfg.cloud_mask)
            params = {}
            if ds.annotators:  # all polygons learn; the seed is the classifier's
                learning, validation = prepared.samples, None
                if cfg.classifier in STOCHASTIC:
                    params = {"seed": seed}
            else:
                held = hold_out(prepared.samples, 0.5, seed=seed)
                learning, validation = held.learning, held.validation
            model = fit(learning, prepared.legend, cfg.classifier, params)
            path = self.tmp / f"{'_'.join(map(str, key)).replace('+', '')}.tif"
            export.write_classification(path, prepared.stack, model, progress=False, compiled=False)
            self.maps_written += 1
            self._maps[key] = (str(path), prepared, validation)
        return self._maps[key]

    def class_map(self, ds: DataSet, cfg: Config, seed: int) -> tuple[str, object, object]:
        """The written map of ``cfg``: regularized as ``export.write_classification(majority=, mmu=)`` does."""
        from landclass_ui.regularize import regularize_file

        raw, prepared, validation = self.raw_map(ds, cfg, seed)
        if cfg.majority is None and cfg.mmu is None:
            return raw, prepared, validation
        out = raw.replace(".tif", f"_m{cfg.majority}_s{cfg.mmu}.tif")
        if not Path(out).exists():
            result = regularize_file(raw, out, majority=cfg.majority, mmu=cfg.mmu)
            if ds.annotators:
                self.changed[(cfg.indices, cfg.classifier, cfg.majority, cfg.mmu, seed)] = result
        return out, prepared, validation

    # --- scores --------------------------------------------------------------------------------------------

    def seeds(self, ds: DataSet, cfg: Config) -> list[int]:
        if ds.annotators:
            return list(FOREST_SEEDS) if cfg.classifier in STOCHASTIC else [FOREST_SEEDS[0]]
        return self.split_seeds(ds)

    def score(self, ds: DataSet, cfg: Config) -> list[list[Score]]:
        """Per column of the data set: the score of each seed / split."""
        import rasterio

        from landclass_ui.accuracy import assess
        from landclass_ui.report import mapped_areas

        if not cfg.cloud_mask and not self.has_mask(ds):  # nothing to switch off: the baseline's map
            cfg = replace(cfg, cloud_mask=True)
        key = (ds.key, self.indices(ds, cfg.indices), cfg.classifier, cfg.majority, cfg.mmu, cfg.cloud_mask)
        if key in self._scores:
            return self._scores[key]
        columns: list[list[Score]] = [[] for _ in ds.columns]
        for seed in self.seeds(ds, cfg):
            path, prepared, validation = self.class_map(ds, cfg, seed)
            names = {e.value: e.name for e in prepared.legend}
            with rasterio.open(path) as src:
                mapped = src.read(1)
            if ds.annotators:
                areas = mapped_areas(path, prepared.legend)[0]
                areas = areas[areas > 0].to_dict()
                for i, (rows, cols, labels) in enumerate(self.reference_pixels(ds).values()):
                    values = mapped[rows, cols]
                    keep = values != 255
                    truth = [lab for lab, k in zip(labels, keep) if k]
                    found = [names[int(v)] for v in values[keep]]
                    r = assess(truth, found, mapped_area=areas)
                    agreement = float(np.mean([a == b for a, b in zip(truth, found)]))
                    columns[i].append(Score(r.overall_accuracy, r.overall_accuracy_se, agreement))
            else:
                frame = validation.frame
                values = mapped[frame["row"].to_numpy(), frame["col"].to_numpy()]
                keep = values != 255
                r = assess(list(frame["label"][keep]), [names[int(v)] for v in values[keep]])
                columns[0].append(Score(r.overall_accuracy, r.overall_accuracy_se, r.overall_accuracy))
        self._scores[key] = columns
        return columns


# --- summary and table ---------------------------------------------------------------------------------------


@dataclass
class Row:
    cfg: Config
    cells: list[str]
    column_oa: list[float]  # mean OA per score column
    counted: list[bool]  # per score column: in the mean and the rule
    mean: float  # over the counted data sets (the bundled scene's two annotators averaged first)
    note: str = ""
    agreement: list[float] = field(default_factory=list)

    def versus(self, base: Row) -> tuple[int, int]:
        """Counted score columns better / worse than ``base``'s by more than ``MARGIN``."""
        diffs = [a - b for a, b, c in zip(self.column_oa, base.column_oa, self.counted) if c]
        return sum(d > MARGIN for d in diffs), sum(d < -MARGIN for d in diffs)


def summarize(bench: Bench, sets: list[DataSet], cfg: Config, metric: str = "oa") -> Row:
    """The row of ``cfg``; ``metric`` ``"oa"`` (the table's) or ``"agreement"`` (unweighted, for the robustness
    check: the same as OA on the hold-out columns) fills ``column_oa`` and ``mean``."""
    cells, column_oa, counted, per_set, agreement = [], [], [], [], []
    for ds in sets:
        of_set = []
        for values in bench.score(ds, cfg):
            oa = [v.oa for v in values]
            m = float(np.mean(oa))
            if ds.annotators:
                cells.append(f"{m:.3f} ± {1.96 * float(np.mean([v.se for v in values])):.3f}")
            else:
                cells.append(f"{m:.3f} ± {float(np.std(oa, ddof=1)) if len(oa) > 1 else 0.0:.3f}")
            value = float(np.mean([getattr(v, metric) for v in values]))
            column_oa.append(value)
            counted.append(ds.counted)
            agreement.append(float(np.mean([v.agreement for v in values])))
            of_set.append(value)
        if ds.counted:
            per_set.append(float(np.mean(of_set)))
    return Row(cfg, cells, column_oa, counted, float(np.mean(per_set)), agreement=agreement)


def markdown(rows: list[Row], sets: list[DataSet], base: Row) -> str:
    heads = [c for ds in sets for c in ds.columns]
    n = sum(ds.counted for ds in sets for _ in ds.columns)
    lines = ["| recipe | " + " | ".join(heads) + " | mean | Δ mean | better / worse |",
             "|---|" + "---|" * (len(heads) + 3)]
    for row in rows:
        better, worse = row.versus(base)
        label = f"**{row.cfg.label}**" if row.cfg.label.startswith("recommended") else row.cfg.label
        lines.append(f"| {label}{row.note} | " + " | ".join(row.cells)
                     + f" | {row.mean:.3f} | {row.mean - base.mean:+.3f} | {better} / {worse} of {n} |")
    return "\n".join(lines)


# --- live map ------------------------------------------------------------------------------------------------


def live_timings(cases: list[tuple[str, tuple[str, ...], str, bool]], repeats: int) -> dict:
    """Median seconds of one click on the bundled scene, as the dashboard's ``_retrain`` does it: fit, the coarse
    picture (256 px, overlay), then the whole scene (640 px; class, probability and least-confident overlays);
    and zoomed in, fit + the visible extent (1000 x 600 screen px). ``cases``: (classifier, indices, training
    ``"polygons"`` (the tutorial's, 3,113 px) or ``"12 points"`` (as ``benchmarks/live.py``), OpenMP limited to
    one thread). A click slower than 4 x the target is not repeated."""
    from pyproj import Transformer
    from threadpoolctl import threadpool_limits

    from landclass_ui.legend import Legend
    from landclass_ui.live import LiveClassifier
    from landclass_ui.overlay import overlay
    from landclass_ui.pipeline import open_recipe_image
    from landclass_ui.recipe import DerivedRef, ImageRef, Recipe, TrainingRef
    from landclass_ui.sample import sample_paths
    from landclass_ui.training import legend_colors, read_training

    s = sample_paths()
    frame = read_training(s.polygons, s.class_field)
    legend = Legend.from_labels(list(frame["label"]), legend_colors(frame))
    colors = legend.colormap()
    to_lonlat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    pixels = {3: [(254, 763), (256, 766), (1380, 1245), (1381, 1247)],  # as benchmarks/live.py
              2: [(1210, 390), (1215, 395), (1220, 400), (1225, 405)],
              1: [(700, 1200), (900, 300), (1500, 900), (300, 1500)]}
    points = []
    for value, cells in pixels.items():
        for row, col in cells:
            lon, lat = to_lonlat.transform(300000 + (col + 0.5) * 60, 4900020 - (row + 0.5) * 60)
            points.append({"x": lon, "y": lat, "class": value})
    view = (1.20, 43.50, 1.45, 43.65)
    trainings = {"polygons": TrainingRef("file", s.polygons, s.class_field),
                 "12 points": TrainingRef("points", points=points)}
    lives: dict = {}
    out = {}
    for name, indices, tname, one_thread in cases:
        recipe = Recipe(name="bench", images=[ImageRef(s.safe)], legend=legend.to_list(),
                        derived=DerivedRef(indices=list(indices), sensor="sentinel-2"))
        if indices not in lives:
            lives[indices] = LiveClassifier(open_recipe_image(recipe), overview_px=640)
            lives[indices].warm()
        live = lives[indices]
        recipe.training, recipe.classifier.name = [trainings[tname]], name
        with threadpool_limits(1, user_api="openmp") if one_thread else _nothing():
            live.fit(recipe, legend)  # warm-up: samples cached, as after the first click
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                model = live.fit(recipe, legend)
                t1 = time.perf_counter()
                r = live.classify_overview(coarse=True)
                overlay(r.classes, r.grid, colors)
                t2 = time.perf_counter()
                r = live.classify_overview()
                overlay(r.classes, r.grid, colors)
                overlay(r.probabilities, r.grid, {v: (0, 0, 0, 255) for v in range(101)})
                overlay(r.uncertain, r.grid, {1: (255, 0, 255, 255)})
                t3 = time.perf_counter()
                live.fit(recipe, legend)
                v = live.classify_view(view, (1000, 600))
                overlay(v.classes, v.grid, colors)
                times.append((t1 - t0, t2 - t0, t3 - t0, time.perf_counter() - t3))
                if t3 - t0 > 4 * LATENCY_S:
                    break
        med = [statistics.median(t[i] for t in times) for i in range(4)]
        out[(name, indices, tname, one_thread)] = (model.n_samples, len(times), *med)
    return out


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- recommendation -----------------------------------------------------------------------------------------


def recommend(rows: dict[str, Row], bench: Bench, sets: list[DataSet], live_ok, metric: str = "oa"
              ) -> tuple[Config, list[str], list[Row]]:
    """The rule (forward selection over the counted score columns):

    1. Start from the baseline. A step tries adding to the current recipe each option of each family not used
       yet: features (an index set), regularization (a majority window and / or a minimum mapping unit) and
       classifier (one that keeps the live map's target: click to the whole-scene map within ``LATENCY_S``,
       0.5 s, or no slower than RF-25 in the same run, on the bundled scene with the tutorial's polygons).
    2. An addition qualifies when it raises the mean OA by at least ``TIE`` (0.005; less is a tie, which goes to
       the simpler recipe) **and** lowers no counted score column by more than ``TIE`` (it must not buy one
       reference's pixels with another's, as a large majority window does with the thin water of nbertaud).
    3. The qualifying addition with the largest gain is taken; repeat until none qualifies.
    """
    families = {
        "features": [name for name in INDEX_SETS if name],
        "regularization": [(r.cfg.majority, r.cfg.mmu) for r in rows.values() if r.cfg.majority or r.cfg.mmu],
        "classifier": CLASSIFIER_ROWS,
    }
    current, used, reasons, shown = rows[BASELINE.label], set(), [], []
    slow = [name for name in CLASSIFIER_ROWS if not live_ok(name)]
    if slow:
        reasons.append("classifiers above the live target, not tried: " + ", ".join(slow))
    for step in itertools.count(1):
        tried = []
        for family, options in families.items():
            if family in used:
                continue
            for option in options:
                if family == "features":
                    cfg = replace(current.cfg, indices=option)
                elif family == "regularization":
                    cfg = replace(current.cfg, majority=option[0], mmu=option[1])
                elif live_ok(option):
                    cfg = replace(current.cfg, classifier=option)
                else:
                    continue
                cfg = replace(cfg, label=f"step {step}: {cfg.describe()}")
                same = next((r for r in rows.values() if r.cfg == replace(cfg, label=r.cfg.label)), None)
                row = same or summarize(bench, sets, cfg, metric)
                if same is None:
                    shown.append(row)
                diffs = [a - b for a, b, c in zip(row.column_oa, current.column_oa, row.counted) if c]
                tried.append((family, row, row.mean - current.mean, min(diffs)))
        ok = [t for t in tried if t[2] >= TIE and t[3] >= -TIE]
        tried.sort(key=lambda t: -t[2])
        listing = "; ".join(f"{t[1].cfg.describe()} {t[2]:+.3f} (worst column {t[3]:+.3f})" for t in tried[:6])
        if not ok:
            reasons.append(f"step {step}: no addition qualifies; best tried: {listing}")
            break
        family, best, gain, _ = max(ok, key=lambda t: t[2])
        reasons.append(f"step {step}: take {best.cfg.describe()} ({gain:+.3f}); tried, best first: {listing}")
        current = best
        used.add(family)
    return current.cfg, reasons, shown


# --- checks --------------------------------------------------------------------------------------------------


def checks(bench: Bench, sets: list[DataSet], recommended: Config) -> list[str]:
    """The table's scoring against ``pipeline.run``: the reference path reads the written (regularized) map, so
    the recommended recipe's run must give the table's OA (seed 1); the hold-out path does not read the map."""
    from landclass_ui.pipeline import run
    from landclass_ui.recipe import DerivedRef, ImageRef, Recipe, RegularizationRef, TrainingRef

    out = []
    toulouse = next(ds for ds in sets if ds.key == "toulouse")
    cfg = recommended
    recipe = Recipe(name="check", images=[ImageRef(p) for p in toulouse.images],
                    training=[TrainingRef("file", toulouse.training, toulouse.class_field)],
                    derived=DerivedRef(indices=list(bench.indices(toulouse, cfg.indices)), sensor=toulouse.sensor),
                    regularization=RegularizationRef(majority=cfg.majority, mmu=cfg.mmu))
    recipe.classifier.name = cfg.classifier
    if cfg.classifier in STOCHASTIC:
        recipe.classifier.params = {"seed": FOREST_SEEDS[0]}
    reference = TrainingRef("file", str(ANNOTATORS["emunaibari"]), "class")
    result = run(recipe, str(bench.tmp / "check_run.tif"), reference=reference, reference_remap=REMAP)
    table = bench.score(toulouse, cfg)[0][0].oa
    same = "same" if abs(table - result.accuracy.overall_accuracy) < 1e-9 else "DIFFERENT"
    out.append(f"`pipeline.run(recommended recipe, reference=emunaibari)` (regularized by `write_classification`): "
               f"OA {result.accuracy.overall_accuracy:.4f}; this table's scoring of its own map: {table:.4f} ({same})")
    l5 = next(ds for ds in sets if ds.key == "l5")
    oas = []
    for reg in (RegularizationRef(), RegularizationRef(majority=7)):
        recipe = Recipe(name="check", images=[ImageRef(p) for p in l5.images],
                        training=[TrainingRef("file", l5.training, l5.class_field)], regularization=reg)
        oas.append(run(recipe, str(bench.tmp / f"check_l5_{reg.majority}.tif"), validation_ratio=0.5,
                       seed=bench.split_seeds(l5)[0]).accuracy.overall_accuracy)
    mine = [bench.score(l5, c)[0][0].oa for c in (BASELINE, replace(BASELINE, majority=7))]
    out.append(f"`pipeline.run(L5, validation_ratio=0.5, seed={bench.split_seeds(l5)[0]})` hold-out OA without / "
               f"with majority 7: {oas[0]:.4f} / {oas[1]:.4f}: it scores `model.estimator.predict` on the held-out "
               f"pixels, so the regularization is not seen; read from the written maps: {mine[0]:.4f} / {mine[1]:.4f}")
    return out


# --- main ---------------------------------------------------------------------------------------------------


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=8, help="distinct polygon hold-outs per data set")
    parser.add_argument("--repeats", type=int, default=3, help="clicks timed per live-map case")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # the reference GeoJSON's duplicate ids, scikit-learn's convergence notes
    from threadpoolctl import threadpool_limits

    from landclass_ui.classifiers import CLASSIFIERS

    start = time.perf_counter()
    sets = data_sets()
    missing = set(CLASSIFIERS) - {"random-forest", "decision-tree", *CLASSIFIER_ROWS}
    if missing:
        say(f"classifiers not benchmarked (add them to CLASSIFIER_ROWS): {sorted(missing)}")
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(tmp, args.splits)
        rows: dict[str, Row] = {}
        with threadpool_limits(1, user_api="openmp"):
            for cfg in ROWS:
                t = time.perf_counter()
                rows[cfg.label] = summarize(bench, sets, cfg)
                say(f"{cfg.label}: mean {rows[cfg.label].mean:.3f} ({time.perf_counter() - t:.1f} s)")
        toulouse = sets[0]
        if bench.indices(toulouse, "5 NDs") == bench.indices(toulouse, "NDVI+NDWI"):
            rows["+ NDVI, NDWI, NDMI, MNDWI, NBR"].note = " ¹"
        accuracy_s = time.perf_counter() - start

        say("live map timings ...")
        t = time.perf_counter()
        load = os.getloadavg()
        cases = [(name, (), "polygons", False) for name in ["random-forest", *CLASSIFIER_ROWS]]
        live = live_timings(cases, args.repeats)
        rf_whole = live[("random-forest", (), "polygons", False)][4]
        live_ok = lambda name: live[(name, (), "polygons", False)][4] <= max(LATENCY_S, rf_whole)  # noqa: E731
        say(f"live timings: {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        with threadpool_limits(1, user_api="openmp"):
            recommended, reasons, combos = recommend(rows, bench, sets, live_ok)
            final = summarize(bench, sets, replace(recommended, label="recommended: " + recommended.describe()))
            extra = [summarize(bench, sets, cfg) for cfg in EXTRA]
            robust = []
            variants = {"unweighted pixel agreement on the S2 Toulouse columns": (sets, "agreement"),
                        "S2 T11UPT counted too": ([replace(ds, counted=ds.counted or ds.key == "t11") for ds in sets],
                                                  "oa"),
                        "no live target (every classifier tried)": (sets, "oa")}
            for what, (variant_sets, metric) in variants.items():
                again = {k: summarize(bench, variant_sets, r.cfg, metric) for k, r in rows.items()}
                gate = (lambda name: True) if what.startswith("no live") else live_ok
                cfg, _, shown = recommend(again, bench, variant_sets, gate, metric)
                best = max([*again.values(), *shown], key=lambda r: r.mean)
                robust.append((what, cfg, best))
                if what.startswith("no live"):  # rows of the slow classifiers, same sets and metric: shown too
                    extra += [replace(r, cfg=replace(r.cfg, label="no live target, " + r.cfg.label)) for r in shown]
            check_lines = checks(bench, sets, recommended)
        say(f"combinations, extra rows, checks: {time.perf_counter() - t:.1f} s")
        rec_indices = bench.indices(toulouse, recommended.indices)
        more = [(name, ind, "12 points", False) for name in dict.fromkeys(["random-forest", recommended.classifier])
                for ind in dict.fromkeys([(), rec_indices])]
        more += [(recommended.classifier, rec_indices, "polygons", False)]
        more += [("hist-gradient-boosting", (), tname, True) for tname in ("polygons", "12 points")]
        live.update(live_timings([c for c in dict.fromkeys(more) if c not in live], args.repeats))
        load = [max(a, b) for a, b in zip(load, os.getloadavg())]

        base = rows[BASELINE.label]
        known = {r.cfg.describe() for r in combos} | {rows[k].cfg.describe() for k in rows}
        extra = [r for r in extra if r.cfg.describe() not in known and not known.add(r.cfg.describe())]
        table_rows = [*rows.values(), *combos, *extra, final]
        t11 = next(ds for ds in sets if ds.key == "t11")
        mask_note = next((m for m in bench.prepared(t11, (), True).messages if m.startswith("cloud mask:")), "none")
        masked = int(np.count_nonzero(np.isnan(bench.prepared(t11, (), True).stack.read()[0])))
        n_on, n_off = (len(bench.prepared(t11, (), c).samples.frame) for c in (True, False))

        print("# Overall accuracy of the default recipe's options on the repository's labelled real scenes\n")
        print(markdown(table_rows, sets, base))
        print()
        print("Cells: S2 Toulouse = OA of the written map at the annotator's reference pixels (stratified by mapped "
              "area, as `landclass --reference` reports it), mean over forest seeds "
              f"{', '.join(map(str, FOREST_SEEDS))} for RF / gradient-tree-boost (one run for the deterministic "
              "classifiers) ± 1.96 SE. Others = mean OA over "
              + ", ".join(f"{ds.title.rstrip(' ²')} {len(bench.split_seeds(ds))}" for ds in sets if not ds.annotators)
              + " distinct polygon hold-outs (50 % of each class's polygons, whole; the map learns from the rest) ± "
              "sd over the splits. mean = over S2 Toulouse (its two annotators averaged first), L5 Amazon and "
              f"S2 Amazon; Δ mean against the baseline; better / worse = counted columns above / below the "
              f"baseline by more than {MARGIN}.")
        if rows["+ NDVI, NDWI, NDMI, MNDWI, NBR"].note:
            print("¹ The bundled scene has no SWIR band: its columns are those of + NDVI, NDWI.")
        print("² Not counted: T11UPT has 8 polygons, one per sub-class (Water: 1), so a hold-out trains on one "
              "polygon per class and validates on sub-classes it never saw (12 distinct splits, OA sd ≈ 0.2); L8 "
              "T11UPT's labels are read from a classification map (agreement, not accuracy).")
        refs = bench.reference_pixels(toulouse)
        print("Reference pixels: " + ", ".join(f"{k} {len(v[0])}" for k, v in refs.items())
              + " (nbertaud: one polygon per class, so its SE is very optimistic).")
        cols = [c for ds in sets for c in ds.columns]
        i = cols.index("S2 Toulouse vs emunaibari")
        print("Unweighted pixel agreement vs emunaibari (the figure of benchmarks/indices.py): "
              + ", ".join(f"{r.cfg.label} {r.agreement[i]:.3f}" for r in (base, rows["+ NDVI, NDWI"], final)) + ".")
        changed = [(k, v) for k, v in bench.changed.items() if k[:2] == ("", "random-forest") and k[4] == 1]
        print("Pixels the regularization changed on the bundled scene (RF-25, seed 1): " + "; ".join(
            f"majority {k[2]} / MMU {k[3]}: {v.majority_changed + v.sieve_changed:,} px "
            f"({100 * (v.majority_changed + v.sieve_changed) / v.valid_pixels:.1f} %)"
            + (f", of which the sieve {v.sieve_changed:,}" if k[2] and k[3] else "") for k, v in changed) + ".")
        print(f"Cloud mask (on by default): only S2 T11UPT has a quality layer; {mask_note}: {masked} px of "
              f"{bench.prepared(t11, (), True).stack.grid.width * bench.prepared(t11, (), True).stack.grid.height}; "
              f"training pixels with / without the mask {n_on} / {n_off}, so switching it off changes nothing "
              "there; the other scenes have no quality layer (their 'cloud mask off' cells are the baseline's). "
              f"Maps written: {bench.maps_written}.")

        print("\n## Recommendation\n")
        print("Rule " + recommend.__doc__.split("\n", 1)[0].removeprefix("The rule ") + "\n")
        print("\n".join(line[4:] for line in recommend.__doc__.splitlines()[2:]).strip() + "\n")
        for r in reasons:
            print(f"- {r}")
        print("\nRobustness, the same rule " + "; ".join(
            f"with {what}: {cfg.describe()} (best mean of the rows it scored: {best.cfg.describe()}, {best.mean:.3f})"
            for what, cfg, best in robust) + ".")
        print(f"\n**Recommended default recipe: {recommended.describe()}** (mean OA {final.mean:.3f} against "
              f"{base.mean:.3f} for the tutorial's RF-25 on raw bands, {final.mean - base.mean:+.3f}; better / "
              f"worse on {'/'.join(map(str, final.versus(base)))} counted columns).")

        print(f"\n## Live map: seconds per click on the bundled scene (median of up to {args.repeats} clicks; "
              f"target {LATENCY_S} s to the whole-scene map; highest load average seen {load[0]:.1f} / "
              f"{load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) on {os.cpu_count()} cores)\n")
        print("| classifier | features | training | px | clicks | fit | click → coarse picture | "
              "click → whole scene | zoomed in: fit + view |")
        print("|---|---|---|---|---|---|---|---|---|")
        for (name, indices, tname, one), (n, clicks, fit_s, coarse_s, whole_s, view_s) in live.items():
            mark = "" if whole_s <= LATENCY_S else " ✗"
            label = name + (" (OpenMP 1 thread)" if one else "")
            print(f"| {label} | {'+ ' + ', '.join(indices) if indices else 'raw bands'} | {tname} | {n} | "
                  f"{clicks} | {fit_s:.3f} | {coarse_s:.3f} | {whole_s:.3f}{mark} | {view_s:.3f} |")

        print("\n## Checks\n")
        for line in check_lines:
            print(f"- {line}")
        print(f"\nRun time {time.perf_counter() - start:.0f} s (the table's first rows {accuracy_s:.0f} s); "
              "`.venv/bin/python benchmarks/accuracy.py`")


if __name__ == "__main__":
    main()

"""Hold-out split and spatial k-fold by polygon / spatial block, never by pixel; cross-validation on the real
Landsat 5 data; the scikit-learn splitter SpatialGroupKFold on four real scenes (the bundled Sentinel-2 sample,
Sentinel-2 and Landsat 8 T11UPT, Landsat 5 Amazon)."""
import doctest
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GroupKFold, check_cv, cross_val_predict
from sklearn.model_selection import cross_validate as sklearn_cross_validate

import landclass_ui.validation
from landclass_ui.pipeline import prepare
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths
from landclass_ui.training import SampleTable
from landclass_ui.validation import (
    CrossValidation,
    SpatialGroupKFold,
    ValidationError,
    cross_validate,
    holdout,
    spatial_blocks,
    spatial_kfold,
    split_by_group,
    split_units,
)

DATA = Path(__file__).parent / "data"
L5 = [str(DATA / f"l5_amazon/LT52240631988227CUB02_B{i}.TIF") for i in (1, 2, 3, 4, 5, 7)]
RES = 30.0


def polygons_frame(groups_per_class=(10, 8, 6, 2), seed=0, origin=(500_000.0, 9_000_000.0)):
    """A SampleTable-like frame: polygons of 3-40 pixels, one class each, scattered on a 30 m grid."""
    rng = np.random.default_rng(seed)
    parts, group = [], 0
    for cls, n_groups in enumerate(groups_per_class, start=1):
        for _ in range(n_groups):
            size = int(rng.integers(3, 41))
            r0, c0 = rng.integers(0, 2000, 2)
            rows = r0 + np.arange(size) // 5
            cols = c0 + np.arange(size) % 5
            parts.append(pd.DataFrame({
                "x": origin[0] + (cols + 0.5) * RES, "y": origin[1] - (rows + 0.5) * RES,
                "row": rows, "col": cols, "group": group, "class": cls, "label": f"c{cls}",
                "b1": rng.normal(cls, 0.1, size).astype(np.float32),
            }))
            group += 1
    return pd.concat(parts, ignore_index=True)


def points_frame(seed=0):
    """Single-pixel features (points) clicked in clusters: 12 clusters of 4 points within 3 pixels, each
    cluster of one class, plus one mixed cluster."""
    rng = np.random.default_rng(seed)
    rows, cols, classes = [], [], []
    for k in range(12):
        r0, c0 = 100 * k + 7, 50 * (k % 3) + 7  # far apart, inside one 10-pixel block
        for _ in range(4):
            rows.append(r0 + int(rng.integers(0, 3)))
            cols.append(c0 + int(rng.integers(0, 3)))
            classes.append(k % 3 + 1)
    # a mixed cluster: classes 1 and 2 side by side
    rows += [2003, 2004]
    cols += [3, 4]
    classes += [1, 2]
    rows, cols = np.array(rows), np.array(cols)
    return pd.DataFrame({
        "x": 0.0 + (cols + 0.5) * RES, "y": 0.0 - (rows + 0.5) * RES, "row": rows, "col": cols,
        "group": np.arange(len(rows)), "class": classes, "label": [f"c{c}" for c in classes],
    })


def groups_on_both_sides(split, frame):
    learn = set(frame.loc[split.learning_mask, "group"])
    val = set(frame.loc[~split.learning_mask, "group"])
    return learn & val


def test_no_group_on_both_sides_and_the_sides_partition_the_rows():
    frame = polygons_frame()
    split = split_by_group(frame, ratio=0.5, seed=1)
    learning, validation = split
    assert not groups_on_both_sides(split, frame)
    assert len(learning) + len(validation) == len(frame)
    assert set(learning.index).isdisjoint(validation.index)
    assert set(learning.index) | set(validation.index) == set(frame.index)


@pytest.mark.parametrize("ratio", [0.5, 0.7, 0.3])
def test_ratio_is_respected_by_groups(ratio):
    frame = polygons_frame(groups_per_class=(20, 20, 20, 20))
    learning, validation = split_by_group(frame, ratio=ratio, seed=3)
    n_learn, n_val = learning["group"].nunique(), validation["group"].nunique()
    assert n_learn + n_val == 80
    assert n_learn / 80 == pytest.approx(ratio, abs=0.03)
    # per class too
    per_class = learning.groupby("class")["group"].nunique()
    assert (per_class == round(20 * ratio)).all()


def test_stratified_every_class_on_both_sides():
    frame = polygons_frame(groups_per_class=(30, 2, 3, 2))
    for seed in range(10):
        split = split_by_group(frame, ratio=0.8, seed=seed)
        assert set(split.learning["class"]) == {1, 2, 3, 4}
        assert set(split.validation["class"]) == {1, 2, 3, 4}
        assert not split.messages


def test_class_with_a_single_group_goes_to_learning_with_a_message():
    frame = polygons_frame(groups_per_class=(5, 4, 1))
    split = split_by_group(frame, seed=0)
    assert 3 in set(split.learning["class"]) and 3 not in set(split.validation["class"])
    assert len(split.messages) == 1 and "class 3" in split.messages[0] and "learning" in split.messages[0]


def test_same_seed_same_split_other_seed_other_split():
    frame = polygons_frame()
    a = split_by_group(frame, seed=42)
    b = split_by_group(frame, seed=42)
    np.testing.assert_array_equal(a.learning_mask, b.learning_mask)
    others = [split_by_group(frame, seed=s).learning_mask for s in range(5)]
    assert any(not np.array_equal(others[0], o) for o in others[1:])


def test_sample_table_in_sample_tables_out():
    frame = polygons_frame()
    table = SampleTable(frame, ["b1"])
    learning, validation = split_by_group(table, seed=0)
    assert isinstance(learning, SampleTable) and isinstance(validation, SampleTable)
    assert learning.band_names == ["b1"] and len(learning.frame) + len(validation.frame) == len(frame)


def test_bad_ratio():
    with pytest.raises(ValidationError, match="ratio"):
        split_by_group(polygons_frame(), ratio=1.0)


def test_spatial_blocks_of_points():
    frame = points_frame()
    blocks = spatial_blocks(frame)  # default: 10 pixels = 300 m
    # each cluster (4 points within 3 pixels, placed inside one block) is one block
    for k in range(12):
        assert len(set(blocks[4 * k: 4 * k + 4])) == 1
    assert len(set(blocks[:48])) == 12
    # block ids are dense 0..n-1
    assert set(blocks) == set(range(len(set(blocks))))
    fine = spatial_blocks(frame, block_size=30.0)  # one pixel: the clusters fall apart
    assert len(set(fine)) > len(set(blocks))
    with pytest.raises(ValidationError, match="block_size"):
        spatial_blocks(frame.drop(columns=["row", "col"]))
    np.testing.assert_array_equal(spatial_blocks(frame.drop(columns=["row", "col"]), 300.0), blocks)


def test_points_are_split_by_block():
    frame = points_frame()
    units = split_units(frame)
    assert len(set(units)) == 13  # 12 clusters and the mixed pair
    blocks = spatial_blocks(frame)
    for seed in range(5):
        split = split_by_group(frame, seed=seed)
        for b in set(blocks):
            sides = set(split.learning_mask[blocks == b])
            assert len(sides) == 1, "a block of points on both sides"
        assert set(split.learning["class"]) == {1, 2, 3} == set(split.validation["class"])


def test_polygons_are_never_cut_by_blocks():
    # a polygon spanning several blocks stays whole; single-pixel features beside it are blocked
    poly = polygons_frame(groups_per_class=(3, 3))
    pts = points_frame()
    pts["group"] += poly["group"].max() + 1
    frame = pd.concat([poly, pts], ignore_index=True)
    units = split_units(frame)
    for rows in frame.groupby("group").groups.values():
        assert len(set(units[frame.index.get_indexer(rows)])) == 1
    split = split_by_group(frame, seed=0)
    assert not groups_on_both_sides(split, frame)


def test_split_by_another_column():
    frame = polygons_frame()
    frame["zone"] = frame["group"] // 3
    split = split_by_group(frame, by="zone", seed=0)
    learn, val = set(split.learning["zone"]), set(split.validation["zone"])
    assert not learn & val
    with pytest.raises(ValidationError, match="no column"):
        split_by_group(frame, by="nope")


def test_kfold_validates_every_group_exactly_once():
    frame = polygons_frame(groups_per_class=(10, 8, 6, 3))
    folds = list(spatial_kfold(frame, k=5, seed=0))
    assert len(folds) == 5
    seen = []
    for split in folds:
        assert not groups_on_both_sides(split, frame)
        seen += sorted(set(split.validation["group"]))
        assert len(split.learning) + len(split.validation) == len(frame)
    assert sorted(seen) == sorted(frame["group"].unique())
    # folds balanced in groups, and a class of >= k groups is in every fold's validation
    sizes = [split.validation["group"].nunique() for split in folds]
    assert max(sizes) - min(sizes) <= 1
    assert all(1 in set(split.validation["class"]) for split in folds)
    # reproducible
    again = [s.learning_mask for s in spatial_kfold(frame, k=5, seed=0)]
    for a, b in zip(folds, again):
        np.testing.assert_array_equal(a.learning_mask, b)


def test_kfold_of_points_by_block():
    frame = points_frame()
    blocks = spatial_blocks(frame)
    count = np.zeros(len(frame), int)
    for split in spatial_kfold(frame, k=4, seed=1):
        count += ~split.learning_mask
        for b in set(blocks):
            assert len(set(split.learning_mask[blocks == b])) == 1
    assert (count == 1).all()


def test_kfold_needs_enough_units():
    with pytest.raises(ValidationError, match="at least 5"):
        list(spatial_kfold(polygons_frame(groups_per_class=(2, 2)), k=5))
    with pytest.raises(ValidationError, match="k must"):
        list(spatial_kfold(polygons_frame(), k=1))


@pytest.fixture(scope="module")
def l5():
    recipe = Recipe(images=[ImageRef(p) for p in L5],
                    training=[TrainingRef("file", str(DATA / "l5_amazon/training_polygons.gpkg"), "class")])
    return prepare(recipe)


def test_cross_validate_on_landsat(l5):
    result = cross_validate(l5.samples, l5.legend, "random-forest", None, k=5, seed=0)
    assert isinstance(result, CrossValidation)
    assert len(result.overall_accuracy) == 5 and len(result.reports) == 5
    assert result.mean > 0.9
    assert result.mean == pytest.approx(np.mean(result.overall_accuracy))
    assert result.std == pytest.approx(np.std(result.overall_accuracy, ddof=1))
    assert sum(result.n_validation) == len(l5.samples.frame)  # every pixel validated once
    assert set(result.reports[0].confusion_matrix.index) <= set(l5.legend.names)
    assert "5-fold" in result.summary() and len(result.to_frame()) == 5


def test_holdout_on_landsat(l5):
    report, split = holdout(l5.samples, l5.legend, ratio=0.5, seed=0)
    frame = l5.samples.frame
    assert not groups_on_both_sides(split, frame)
    assert report.n == len(split.validation.frame)
    assert report.overall_accuracy > 0.9
    assert set(split.validation.frame["class"]) == set(frame["class"])


# --- SpatialGroupKFold: the scikit-learn splitter ---------------------------------------------------------------------
#
# Real training data of four scenes (units per class, from split_units):
#   sample  bundled S2 L2A T31TCJ, 4 bands, 3113 px in 10 polygons: FARM 5, FOREST 1, WATER 4
#   s2      tests/data/s2_t11upt, 6 bands, 479 px in 8 polygons: Bare Earth 3, Built Up 2, Vegetation 2, Water 1
#   l8      tests/data/l8_t11upt, 4 bands, 89 points in 83 blocks: Bare Earth 38, Built Up 4, Vegetation 39, Water 2
#   l5      tests/data/l5_amazon, 6 bands, 4410 px in 36 polygons: cleared 10, fallen_dry 8, forest 9, water 9

S2_T11UPT = DATA / "s2_t11upt"
L8_T11UPT = DATA / "l8_t11upt"


def scene_recipe(name):
    if name == "sample":
        paths = sample_paths()
        return Recipe(images=[ImageRef(paths.safe)], training=[TrainingRef("file", paths.polygons, paths.class_field)])
    if name == "s2":
        bands = [S2_T11UPT / f"T11UPT_20200804T183919_{b}_60m.jp2" for b in ("B02", "B03", "B04", "B8A", "B11", "B12")]
        return Recipe(images=[ImageRef(str(p)) for p in bands],
                      training=[TrainingRef("file", str(S2_T11UPT / "landcover.shp"), "MC_name")])
    if name == "l8":
        bands = [L8_T11UPT / f"LC08_L2SP_043024_20200802_20200914_02_T1_SR_{b}.tif" for b in ("B2", "B3", "B4", "B5")]
        return Recipe(images=[ImageRef(str(p)) for p in bands],
                      training=[TrainingRef("file", str(L8_T11UPT / "training_points.shp"), "MC_name")])
    assert name == "l5"
    return Recipe(images=[ImageRef(p) for p in L5],
                  training=[TrainingRef("file", str(DATA / "l5_amazon/training_polygons.gpkg"), "class")])


#: scene -> (folds used, number of units, polygons or points)
SCENES = {"sample": (5, 10), "s2": (4, 8), "l8": (5, 83), "l5": (5, 36)}


@pytest.fixture(scope="module", params=list(SCENES))
def scene(request):
    """(name, samples, units, n_splits) of a real scene's training data."""
    samples = prepare(scene_recipe(request.param)).samples
    units = split_units(samples)
    n_splits, n_units = SCENES[request.param]
    assert len(np.unique(units)) == n_units
    return request.param, samples, units, n_splits


def folds_of(cv, X, y, groups):
    folds = list(cv.split(X, y, groups))
    assert len(folds) == cv.get_n_splits()
    return folds


def test_cross_val_predict_with_spatial_group_kfold_on_real_scenes(scene):
    name, samples, units, k = scene
    X, y = samples.features, samples.classes
    cv = SpatialGroupKFold(k, seed=0)
    forest = RandomForestClassifier(n_estimators=20, random_state=0)
    predicted = cross_val_predict(forest, X, y, groups=units, cv=cv)
    assert predicted.shape == y.shape and set(np.unique(predicted)) <= set(np.unique(y))
    # each sample predicted by the forest fitted on the other folds of *this* splitter
    expected = np.empty_like(y)
    for train, test in cv.split(X, y, units):
        forest_k = RandomForestClassifier(n_estimators=20, random_state=0).fit(X[train], y[train])
        expected[test] = forest_k.predict(X[test])
    np.testing.assert_array_equal(predicted, expected)
    # and sklearn's cross_validate takes it too
    scores = sklearn_cross_validate(forest, X, y, groups=units, cv=cv, scoring="accuracy")["test_score"]
    assert len(scores) == k and np.all((scores >= 0) & (scores <= 1))
    if name == "l5":  # well separated classes: a spatial CV accuracy like test_cross_validate_on_landsat's
        assert np.mean(predicted == y) > 0.9


def test_no_unit_on_both_sides_and_every_sample_tested_once(scene):
    _, samples, units, k = scene
    y = samples.classes
    n = len(y)
    tested = np.zeros(n, int)
    for train, test in folds_of(SpatialGroupKFold(k, seed=3), samples.features, y, units):
        assert train.dtype.kind == test.dtype.kind == "i" and train.ndim == test.ndim == 1
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        assert len(train) and len(test) and len(train) + len(test) == n
        assert np.union1d(train, test).tolist() == list(range(n))
        assert not set(units[train]) & set(units[test]), "a polygon/block on both sides"
        tested[test] += 1
    assert (tested == 1).all()


@pytest.mark.parametrize("seed", range(8))
def test_every_class_on_both_sides_of_every_fold_where_feasible(scene, seed):
    """A class of m units is tested in min(m, k) folds (all when m >= k) and, when m >= 2, learned in all k."""
    _, samples, units, k = scene
    y = samples.classes
    units_per_class = pd.Series(units).groupby(y).nunique()
    folds = folds_of(SpatialGroupKFold(k, seed=seed), None, y, units)
    for cls, m in units_per_class.items():
        in_test = sum(cls in set(y[test]) for _, test in folds)
        in_train = sum(cls in set(y[train]) for train, _ in folds)
        assert in_test == min(m, k), (cls, m)
        assert in_train == (k if m >= 2 else k - 1), (cls, m)
    # units are balanced over the folds
    n_units = [len(np.unique(units[test])) for _, test in folds]
    assert max(n_units) - min(n_units) <= 1


def test_sklearn_group_kfold_does_not_keep_classes_on_both_sides(scene):
    """The check above is not trivially met: group k-fold without stratification by class misses it."""
    _, samples, units, k = scene
    y = samples.classes
    units_per_class = pd.Series(units).groupby(y).nunique()
    misses = 0
    for seed in range(8):
        folds = folds_of(GroupKFold(k, shuffle=True, random_state=seed), samples.features, y, units)
        for cls, m in units_per_class.items():
            misses += sum(cls in set(y[test]) for _, test in folds) != min(m, k)
            misses += m >= 2 and sum(cls in set(y[train]) for train, _ in folds) != k
    assert misses > 0


@pytest.mark.parametrize("groups_per_class, k", [((30, 2, 3, 2), 5), ((10, 8, 6, 2), 5), ((2, 2, 2, 2, 2), 2),
                                                 ((7, 7), 7), ((5, 4, 1), 3)])
def test_classes_on_both_sides_where_feasible_synthetic(groups_per_class, k):
    frame = polygons_frame(groups_per_class=groups_per_class, seed=1)
    y, units = frame["class"].to_numpy(), split_units(frame)
    for seed in range(10):
        folds = folds_of(SpatialGroupKFold(k, seed=seed), frame, y, units)
        for cls, m in enumerate(groups_per_class, start=1):
            assert sum(cls in set(y[test]) for _, test in folds) == min(m, k)
            assert sum(cls in set(y[train]) for train, _ in folds) == (k if m >= 2 else k - 1)


def test_folds_of_points_keep_blocks_whole():
    frame = points_frame()
    units = split_units(frame)
    blocks = spatial_blocks(frame)
    for train, test in SpatialGroupKFold(4, seed=1).split(frame, frame["class"], units):
        assert not set(blocks[train]) & set(blocks[test])
        # a block of two classes (the mixed pair) is dealt whole too
        assert set(frame["class"].iloc[test]) == {1, 2, 3} == set(frame["class"].iloc[train])


def test_same_seed_same_folds_other_seed_other_folds(scene):
    _, samples, units, k = scene
    X, y = samples.features, samples.classes

    def tests(seed):
        return [test for _, test in SpatialGroupKFold(k, seed=seed).split(X, y, units)]

    first = tests(7)
    for a, b in zip(first, tests(7)):
        np.testing.assert_array_equal(a, b)
    cv = SpatialGroupKFold(k, seed=7)  # one splitter gives the same folds at every call
    for a, b, c in zip(first, [t for _, t in cv.split(X, y, units)], [t for _, t in cv.split(X, y, units)]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    others = [tests(s) for s in (8, 9, 10)]
    assert any(not all(np.array_equal(a, b) for a, b in zip(first, other)) for other in others)
    # seed=None draws anew
    fresh = [tests(None) for _ in range(4)]
    assert any(not all(np.array_equal(a, b) for a, b in zip(fresh[0], f)) for f in fresh[1:])


def test_folds_do_not_depend_on_row_order_or_on_the_unit_labels():
    frame = polygons_frame(groups_per_class=(10, 8, 6, 3), seed=2)
    y, units = frame["class"].to_numpy(), split_units(frame)
    cv = SpatialGroupKFold(5, seed=4)
    fold_of_unit = {int(u): f for f, (_, test) in enumerate(cv.split(None, y, units)) for u in set(units[test])}
    order = np.random.default_rng(0).permutation(len(frame))
    shuffled = {int(u): f for f, (_, test) in enumerate(cv.split(None, y[order], units[order]))
                for u in set(units[order][test])}
    assert shuffled == fold_of_unit
    # other labels in the same order (e.g. the features' own ids): the same folds
    relabelled = [test for _, test in cv.split(None, y, 1000 + 7 * units)]
    assert next(test for _, test in cv.split(None, y, units)).tolist() == relabelled[0].tolist()
    assert all(set(units[test]) == {u for u, f in fold_of_unit.items() if f == i} for i, test in enumerate(relabelled))


def test_get_n_splits_and_the_splitter_interface():
    cv = SpatialGroupKFold(3, seed=5)
    assert cv.get_n_splits() == 3 == cv.get_n_splits(np.zeros((4, 1)), [1, 1, 2, 2], [0, 1, 2, 3])
    assert SpatialGroupKFold().get_n_splits() == 5 and SpatialGroupKFold().seed == 0
    assert SpatialGroupKFold(np.int64(4)).get_n_splits() == 4
    frame = polygons_frame()
    assert len(list(cv.split(frame, frame["class"], frame["group"]))) == 3
    assert check_cv(cv) is cv
    assert repr(cv) == "SpatialGroupKFold(n_splits=3, seed=5)"
    assert isinstance(cv, sklearn.model_selection.BaseCrossValidator)
    with pytest.raises(TypeError):
        SpatialGroupKFold(3, 5)  # seed is keyword-only


def test_metadata_routing_requests_groups(scene):
    """With metadata routing on, groups reach the splitter without set_split_request (as for GroupKFold)."""
    _, samples, units, k = scene
    X, y = samples.features, samples.classes
    cv = SpatialGroupKFold(k, seed=0)
    assert cv.get_metadata_routing().consumes("split", ["groups"]) == {"groups"}
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    plain = cross_val_predict(forest, X, y, groups=units, cv=cv)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = cross_val_predict(forest, X, y, params={"groups": units}, cv=cv)
    np.testing.assert_array_equal(plain, routed)


def assert_same_folds(cv_folds, kfold_splits):
    """The splitter's (train, test) indices and spatial_kfold's learning masks are the same folds, which
    partition the rows."""
    assert len(cv_folds) == len(kfold_splits) >= 2
    seen = np.concatenate([test for _, test in cv_folds])
    assert sorted(seen) == list(range(len(kfold_splits[0].learning_mask)))
    for (train, test), split in zip(cv_folds, kfold_splits):
        np.testing.assert_array_equal(train, np.flatnonzero(split.learning_mask))
        np.testing.assert_array_equal(test, np.flatnonzero(~split.learning_mask))


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_splitter_gives_the_folds_of_spatial_kfold_on_real_scenes(scene, seed):
    _, samples, units, k = scene
    for n_splits in sorted({2, k}):
        cv_folds = list(SpatialGroupKFold(n_splits, seed=seed).split(samples.features, samples.classes, units))
        splits = list(spatial_kfold(samples, k=n_splits, seed=seed))
        assert_same_folds(cv_folds, splits)
        for (_, test), split in zip(cv_folds, splits):
            pd.testing.assert_frame_equal(split.validation.frame, samples.frame.iloc[test].reset_index(drop=True))


@pytest.mark.parametrize("make", [lambda: polygons_frame(groups_per_class=(10, 8, 6, 3)), points_frame,
                                  lambda: polygons_frame(groups_per_class=(30, 2, 3, 2), seed=4)])
def test_splitter_gives_the_folds_of_spatial_kfold_synthetic(make):
    frame = make()
    units = split_units(frame)
    for k, seed in [(2, 0), (3, 1), (4, 9)]:
        cv_folds = list(SpatialGroupKFold(k, seed=seed).split(frame, frame["class"], units))
        assert_same_folds(cv_folds, list(spatial_kfold(frame, k=k, seed=seed)))


def test_cross_validate_uses_the_splitters_folds(l5):
    result = cross_validate(l5.samples, l5.legend, "random-forest", None, k=4, seed=2)
    folds = list(SpatialGroupKFold(4, seed=2).split(None, l5.samples.classes, split_units(l5.samples)))
    assert result.n_validation == [len(test) for _, test in folds]


def test_splitter_errors():
    frame = polygons_frame(groups_per_class=(2, 2))  # 4 polygons
    X, y, units = frame[["b1"]], frame["class"], split_units(frame)
    with pytest.raises(ValidationError, match="at least 5 polygons/blocks; the training data have 4"):
        SpatialGroupKFold(5).split(X, y, units)  # raised by the call, before the first fold
    assert len(list(SpatialGroupKFold(4).split(X, y, units))) == 4
    for bad in (1, 0, -3, 2.5, "3", None, True):
        with pytest.raises(ValidationError, match="n_splits must be an integer >= 2"):
            SpatialGroupKFold(bad)
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(ValidationError, match="seed"):
            SpatialGroupKFold(2, seed=bad)
    cv = SpatialGroupKFold(2)
    with pytest.raises(ValidationError, match="needs groups"):
        cv.split(X, y)
    with pytest.raises(ValidationError, match="needs y"):
        cv.split(X, None, units)
    with pytest.raises(ValidationError, match="one row per sample"):
        cv.split(X, y, units[:-1])
    with pytest.raises(ValidationError, match="one row per sample"):
        cv.split(X[:-1], y, units)
    with pytest.raises(ValidationError, match="groups has missing values"):
        cv.split(X, y, np.where(units == 0, np.nan, units))
    with pytest.raises(ValidationError, match=r"y must be one label per sample"):
        cv.split(X, np.c_[y, y], units)
    assert issubclass(ValidationError, ValueError)  # what sklearn's callers catch
    # a column vector is one label per sample
    a = [t for _, t in cv.split(X, y.to_numpy()[:, None], units[:, None])]
    b = [t for _, t in cv.split(X, y, units)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_docstring_examples_run():
    result = doctest.testmod(landclass_ui.validation, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0

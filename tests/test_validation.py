"""Hold-out split and spatial k-fold by polygon / spatial block, never by pixel; cross-validation on the real
Landsat 5 data."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from landclass_ui.classify import prepare
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.training import SampleTable
from landclass_ui.validation import (
    CrossValidation,
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
    for g, rows in frame.groupby("group").groups.items():
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

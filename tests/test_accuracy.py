"""Accuracy and area estimation: the worked examples of Olofsson et al. (2013, 2014), simple random sampling
checked by hand, classes present on one side only, and the report."""
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from landclass_ui.accuracy import AccuracyError, assess
from landclass_ui.errors import LandclassError

Z = 1.96  # the papers' 95% multiplier


def sample_from_matrix(counts, classes):
    """Reference and map labels of a sample with the given error matrix (rows = map, columns = reference)."""
    reference, mapped = [], []
    for i, row in enumerate(counts):
        for j, n in enumerate(row):
            reference += [classes[j]] * n
            mapped += [classes[i]] * n
    return reference, mapped


# Olofsson et al. (2014), section 5 (worked example), Table 8: map classes 1 deforestation, 2 forest gain,
# 3 stable forest, 4 stable non-forest; mapped areas in 30 m pixels; sample counts, rows = map.
OLOFSSON_2014_CLASSES = ["deforestation", "forest gain", "stable forest", "stable non-forest"]
OLOFSSON_2014_AREA_PX = {"deforestation": 200_000, "forest gain": 150_000, "stable forest": 3_200_000,
                         "stable non-forest": 6_450_000}
OLOFSSON_2014_COUNTS = [
    [66, 0, 5, 4],
    [0, 55, 8, 12],
    [1, 0, 153, 11],
    [2, 1, 9, 313],
]
HA_PER_PIXEL = 0.09


@pytest.fixture(scope="module")
def olofsson_2014():
    reference, mapped = sample_from_matrix(OLOFSSON_2014_COUNTS, OLOFSSON_2014_CLASSES)
    return assess(reference, mapped, OLOFSSON_2014_AREA_PX)


def test_olofsson_2014_overall_accuracy(olofsson_2014):
    r = olofsson_2014
    # published: 0.95 +/- 0.02 (0.947 +/- 0.018 to three decimals)
    assert round(r.overall_accuracy, 2) == 0.95 and round(Z * r.overall_accuracy_se, 2) == 0.02
    assert round(r.overall_accuracy, 3) == 0.947 and round(Z * r.overall_accuracy_se, 3) == 0.018


def test_olofsson_2014_users_accuracy(olofsson_2014):
    r = olofsson_2014
    np.testing.assert_array_equal(r.users_accuracy.round(2).to_numpy(), [0.88, 0.73, 0.93, 0.96])
    np.testing.assert_array_equal((Z * r.users_accuracy_se).round(2).to_numpy(), [0.07, 0.10, 0.04, 0.02])


def test_olofsson_2014_producers_accuracy(olofsson_2014):
    r = olofsson_2014
    np.testing.assert_array_equal(r.producers_accuracy.round(2).to_numpy(), [0.75, 0.85, 0.93, 0.96])
    # deforestation: 0.75 +/- 0.21 (eq. 7, the sum over the other map classes i != j)
    assert round(Z * r.producers_accuracy_se["deforestation"], 2) == 0.21


def test_olofsson_2014_areas(olofsson_2014):
    r = olofsson_2014
    # published, in ha (1 pixel = 0.09 ha), estimate and 95% CI half-width
    published = {
        "deforestation": (21_158, 6_158),
        "forest gain": (11_686, 3_756),
        "stable forest": (285_770, 15_510),
        "stable non-forest": (581_386, 16_282),
    }
    for cls, (area, half) in published.items():
        assert round(r.area[cls] * HA_PER_PIXEL) == area, cls
        assert round(Z * r.area_se[cls] * HA_PER_PIXEL) == half, cls
    # areas are in the unit of mapped_area (pixels) and add up to the map
    assert r.area.sum() == pytest.approx(sum(OLOFSSON_2014_AREA_PX.values()))
    assert round(r.area["deforestation"]) == 235_086


def test_olofsson_2014_report_layout(olofsson_2014):
    r = olofsson_2014
    cm = r.confusion_matrix
    assert list(cm.index) == OLOFSSON_2014_CLASSES and list(cm.columns) == OLOFSSON_2014_CLASSES
    np.testing.assert_array_equal(cm.to_numpy(), OLOFSSON_2014_COUNTS)
    assert r.n == 640 and r.stratified
    assert r.proportions.to_numpy().sum() == pytest.approx(1.0)
    # p_11 = W_1 n_11 / n_1. = 0.02 x 66 / 75
    assert r.proportions.loc["deforestation", "deforestation"] == pytest.approx(0.0176)
    f1 = r.f1["deforestation"]
    ua, pa = r.users_accuracy["deforestation"], r.producers_accuracy["deforestation"]
    assert f1 == pytest.approx(2 * ua * pa / (ua + pa))


def test_olofsson_2013_example():
    """Olofsson et al. (2013), the numerical example: map classes 1 deforestation, 2 forest, 3 non-forest,
    mapped areas in ha. Only the published user's and producer's accuracy of deforestation are checked."""
    counts = [[97, 0, 3], [3, 279, 18], [2, 1, 97]]
    reference, mapped = sample_from_matrix(counts, [1, 2, 3])
    r = assess(reference, mapped, {1: 22_353, 2: 1_122_543, 3: 610_228})
    assert round(r.users_accuracy[1], 2) == 0.97
    assert round(r.producers_accuracy[1], 2) == 0.48
    # the estimated area of deforestation is far larger than the mapped one (omission in the forest stratum)
    assert r.area[1] > 22_353


def test_class_order_follows_mapped_area():
    reference, mapped = sample_from_matrix(OLOFSSON_2014_COUNTS, OLOFSSON_2014_CLASSES)
    order = ["stable non-forest", "forest gain", "deforestation", "stable forest"]
    r = assess(reference, mapped, {c: OLOFSSON_2014_AREA_PX[c] for c in order})
    assert list(r.confusion_matrix.index) == order
    assert round(r.area["deforestation"] * HA_PER_PIXEL) == 21_158


# A small simple random sample, rows = map (a, b, c), columns = reference:
#   a: 4 1 0   (5)
#   b: 1 2 0   (3)
#   c: 0 1 1   (2)
#      5 4 1   n = 10
SMALL = [[4, 1, 0], [1, 2, 0], [0, 1, 1]]


def test_simple_random_sample_by_hand():
    reference, mapped = sample_from_matrix(SMALL, ["a", "b", "c"])
    r = assess(reference, mapped)
    assert not r.stratified and r.mapped_area is None and r.n == 10
    # OA = 7/10; SE = sqrt(0.7 x 0.3 / 9)
    assert r.overall_accuracy == pytest.approx(0.7)
    assert r.overall_accuracy_se == pytest.approx(0.152753, abs=1e-6)
    # UA = 4/5, 2/3, 1/2; SE = sqrt(.8 .2 / 4) = 0.2, sqrt(2/9 / 2) = 1/3, sqrt(.25 / 1) = 0.5
    np.testing.assert_allclose(r.users_accuracy, [0.8, 2 / 3, 0.5])
    np.testing.assert_allclose(r.users_accuracy_se, [0.2, 1 / 3, 0.5])
    # PA = 4/5, 2/4, 1/1; SE = 0.2, sqrt(.25 / 3) = 0.288675, and none from a single unit
    np.testing.assert_allclose(r.producers_accuracy, [0.8, 0.5, 1.0])
    np.testing.assert_allclose(r.producers_accuracy_se[:2], [0.2, 0.288675], atol=1e-6)
    assert np.isnan(r.producers_accuracy_se["c"])
    # proportions 5/10, 4/10, 1/10; SE = sqrt(p (1 - p) / 9) = 1/6, 0.163299, 0.1
    np.testing.assert_allclose(r.area, [0.5, 0.4, 0.1])
    np.testing.assert_allclose(r.area_se, [1 / 6, 0.163299, 0.1], atol=1e-6)
    # kappa: p_o = 0.7, p_e = .5 .5 + .3 .4 + .2 .1 = 0.39
    assert r.kappa == pytest.approx((0.7 - 0.39) / (1 - 0.39))
    # F1 = 0.8, 2 (2/3)(1/2) / (2/3 + 1/2) = 4/7, 2 (1/2)(1) / (3/2) = 2/3
    np.testing.assert_allclose(r.f1, [0.8, 4 / 7, 2 / 3])


def test_proportional_allocation_gives_the_simple_random_estimates():
    reference, mapped = sample_from_matrix(SMALL, ["a", "b", "c"])
    srs = assess(reference, mapped)
    strat = assess(reference, mapped, {"a": 500, "b": 300, "c": 200})
    assert strat.overall_accuracy == pytest.approx(srs.overall_accuracy)
    pd.testing.assert_series_equal(strat.users_accuracy, srs.users_accuracy)
    pd.testing.assert_series_equal(strat.producers_accuracy, srs.producers_accuracy)
    np.testing.assert_allclose(strat.area / 1000, srs.area)
    assert strat.kappa == pytest.approx(srs.kappa)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kappa_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    reference = rng.choice(["water", "forest", "crop", "urban"], 300)
    mapped = np.where(rng.random(300) < 0.7, reference, rng.choice(["water", "forest", "crop", "urban"], 300))
    r = assess(reference, mapped)
    assert r.kappa == pytest.approx(cohen_kappa_score(reference, mapped))
    assert r.overall_accuracy == pytest.approx(np.mean(reference == mapped))


@pytest.mark.parametrize("areas", [None, {1: 100, 2: 300, 3: 600}])
def test_perfect_map(areas):
    labels = [1] * 10 + [2] * 20 + [3] * 30
    r = assess(labels, labels, areas)
    assert r.overall_accuracy == 1 and r.overall_accuracy_se == 0
    assert (r.users_accuracy == 1).all() and (r.users_accuracy_se == 0).all()
    assert (r.producers_accuracy == 1).all() and (r.producers_accuracy_se == 0).all()
    assert (r.f1 == 1).all() and r.kappa == 1
    if areas:  # the map's areas are then exact; from a simple random sample they are still estimated
        assert (r.area_se == 0).all()
    else:
        assert (r.area_se > 0).all()
    expected = [100, 300, 600] if areas else [1 / 6, 2 / 6, 3 / 6]
    np.testing.assert_allclose(r.area, expected)


@pytest.mark.parametrize("areas", [None, {"forest": 700, "water": 200, "urban": 100}])
def test_classes_present_on_one_side_only(areas):
    # "crop" is in the reference but never mapped; "urban" is mapped but never in the reference
    reference = ["forest"] * 8 + ["crop"] * 2 + ["water"] * 5 + ["forest"] * 3
    mapped = ["forest"] * 8 + ["forest"] * 2 + ["water"] * 5 + ["urban"] * 3
    r = assess(reference, mapped, areas)
    assert set(r.confusion_matrix.index) == {"forest", "water", "crop", "urban"}
    assert r.confusion_matrix.loc["forest", "crop"] == 2 and r.confusion_matrix.loc["urban", "forest"] == 3
    # never mapped: UA undefined, PA 0 (and exact), some estimated area
    assert np.isnan(r.users_accuracy["crop"]) and np.isnan(r.users_accuracy_se["crop"])
    assert r.producers_accuracy["crop"] == 0 and r.producers_accuracy_se["crop"] == 0
    assert r.area["crop"] > 0 and np.isfinite(r.area_se["crop"]) and r.area_se["crop"] > 0
    assert np.isnan(r.f1["crop"])
    # never in the reference: UA 0 (SE 0), PA undefined, no estimated area
    assert r.users_accuracy["urban"] == 0 and r.users_accuracy_se["urban"] == 0
    assert np.isnan(r.producers_accuracy["urban"]) and np.isnan(r.producers_accuracy_se["urban"])
    assert r.area["urban"] == 0 and r.area_se["urban"] == 0
    # the classes on both sides are unaffected
    assert r.users_accuracy["water"] == 1 and r.producers_accuracy["water"] == 1
    assert np.isfinite(r.overall_accuracy_se) and 0 < r.overall_accuracy < 1
    total = 1000 if areas else 1
    assert r.area.sum() == pytest.approx(total)
    md = r.to_markdown()
    assert "n/a" in md


def test_reference_only_class_left_out_of_mapped_area():
    r = assess(["a", "a", "b", "c"], ["a", "a", "b", "b"], {"a": 10, "b": 10})
    assert r.mapped_area["c"] == 0 and r.producers_accuracy["c"] == 0
    assert r.area["c"] == pytest.approx(10 * 1 / 2)


def test_single_unit_stratum_has_no_variance_estimate():
    r = assess(["a", "a", "a", "b"], ["a", "a", "a", "b"], {"a": 10, "b": 10})
    assert r.overall_accuracy == 1 and np.isnan(r.overall_accuracy_se)
    assert np.isnan(r.users_accuracy_se["b"]) and r.users_accuracy_se["a"] == 0


def test_errors():
    with pytest.raises(AccuracyError, match="length"):
        assess([1, 2, 3], [1, 2])
    with pytest.raises(AccuracyError, match="empty"):
        assess([], [])
    with pytest.raises(AccuracyError, match="no mapped area"):
        assess([1, 2], [1, 2], {1: 10})
    with pytest.raises(AccuracyError, match="no sample unit"):
        assess([1, 2], [1, 2], {1: 10, 2: 10, 3: 5})
    with pytest.raises(AccuracyError, match="negative"):
        assess([1, 2], [1, 2], {1: 10, 2: -1})
    with pytest.raises(AccuracyError, match="missing"):
        assess([1, None], [1, 2])
    assert issubclass(AccuracyError, LandclassError) and issubclass(AccuracyError, ValueError)


def test_mapped_area_class_without_area_nor_sample_is_listed():
    r = assess([1, 1, 2, 2], [1, 1, 2, 2], {1: 10, 2: 10, 3: 0})
    assert list(r.confusion_matrix.index) == [1, 2, 3]
    assert r.area[3] == 0 and np.isnan(r.users_accuracy[3]) and np.isnan(r.producers_accuracy[3])
    assert r.overall_accuracy == 1


def test_label_types():
    ints = assess(np.array([1, 2, 2, 1]), pd.Series([1, 2, 1, 1]))
    assert list(ints.confusion_matrix.index) == [1, 2]
    mixed = assess([1, "a", (2, 3)], [1, "a", (2, 3)])  # unsortable labels keep their order of appearance
    assert mixed.overall_accuracy == 1 and len(mixed.confusion_matrix) == 3


def test_to_frame(olofsson_2014):
    frame = olofsson_2014.to_frame()
    assert list(frame.index) == OLOFSSON_2014_CLASSES
    for col in ("n_map", "n_reference", "mapped_area", "users_accuracy", "users_accuracy_se",
                "producers_accuracy", "producers_accuracy_se", "f1", "area", "area_se"):
        assert col in frame
    assert frame.loc["deforestation", "n_map"] == 75 and frame.loc["deforestation", "n_reference"] == 69
    assert frame.attrs["overall_accuracy"] == olofsson_2014.overall_accuracy
    low, high = olofsson_2014.interval("overall_accuracy")
    assert high - low == pytest.approx(2 * 1.959964 * olofsson_2014.overall_accuracy_se)


def test_to_markdown_shows_95_percent_intervals():
    reference, mapped = sample_from_matrix(SMALL, ["a", "b", "c"])
    md = assess(reference, mapped).to_markdown()
    assert "95% confidence interval" in md
    # OA 0.7 +/- 1.96 x 0.152753 = 0.7 +/- 0.2994; UA(a) 0.8 +/- 1.96 x 0.2 clipped to 1
    assert "0.700 [0.401, 0.999]" in md
    assert "0.800 [0.408, 1.000]" in md
    assert re.search(r"^\| a \| 5 \| 5 \|", md, re.M)
    assert "| map \\ reference | a | b | c |" in md


def test_to_markdown_areas(olofsson_2014):
    md = olofsson_2014.to_markdown()
    assert "Estimated area" in md and "235,086 [" in md

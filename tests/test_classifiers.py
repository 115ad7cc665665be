"""Tests of landclass_ui.classifiers: registry, defaults, parameter parsing and the random forest itself."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from landclass_ui.classifiers import (
    CLASSIFIERS,
    DEFAULT_CLASSIFIER,
    get_spec,
    make_classifier,
    parse_param_args,
    parse_params,
)
from landclass_ui.errors import ClassifierError, LandclassError

RF_PARAMS = ["n_trees", "variables_per_split", "min_leaf_population", "bag_fraction", "max_nodes", "seed"]


def test_classifier_error_is_a_landclass_error():
    assert issubclass(ClassifierError, LandclassError)


# --- defaults --------------------------------------------------------------------------------------------


def test_default_is_random_forest_with_sepal_defaults():
    assert DEFAULT_CLASSIFIER == "random-forest"
    assert "random-forest" in CLASSIFIERS
    defaults = parse_params(DEFAULT_CLASSIFIER, None)
    assert defaults["n_trees"] == 25
    assert defaults["bag_fraction"] == 0.5
    assert defaults["seed"] == 1
    assert defaults["variables_per_split"] is None
    assert defaults["min_leaf_population"] == 1
    assert defaults["max_nodes"] is None
    assert sorted(defaults) == sorted(RF_PARAMS)


def test_make_classifier_default_estimator():
    clf = make_classifier()
    assert isinstance(clf, RandomForestClassifier)
    assert clf.n_estimators == 25
    assert clf.max_samples == 0.5
    assert clf.random_state == 1
    assert clf.max_features == "sqrt"
    assert clf.min_samples_leaf == 1
    assert clf.max_leaf_nodes is None


def test_make_classifier_maps_params():
    clf = make_classifier(
        "random-forest",
        {"n_trees": "50", "variables_per_split": "3", "min_leaf_population": 2, "bag_fraction": 1,
         "max_nodes": "100", "seed": "7"},
    )
    assert clf.n_estimators == 50
    assert clf.max_features == 3
    assert clf.min_samples_leaf == 2
    assert clf.max_samples is None  # bag fraction 1: every tree draws as many pixels as there are
    assert clf.max_leaf_nodes == 100
    assert clf.random_state == 7


def test_make_classifier_rejects_bad_params():
    with pytest.raises(ClassifierError, match="n_trees"):
        make_classifier("rf", {"n_trees": -5})


# --- parse_params ----------------------------------------------------------------------------------------


def test_parse_params_converts_strings():
    params = parse_params("random-forest", {"n_trees": "50", "bag_fraction": "0.25", "seed": " 0 "})
    assert params["n_trees"] == 50 and isinstance(params["n_trees"], int)
    assert params["bag_fraction"] == 0.25 and isinstance(params["bag_fraction"], float)
    assert params["seed"] == 0
    # the others keep their defaults
    assert params["min_leaf_population"] == 1


def test_parse_params_integral_float_accepted_for_int():
    params = parse_params("random-forest", {"n_trees": 40.0, "seed": "3.0"})
    assert params["n_trees"] == 40 and isinstance(params["n_trees"], int)
    assert params["seed"] == 3


@pytest.mark.parametrize("text", ["none", "None", "NONE", "null", " none ", None])
def test_parse_params_none_for_variables_per_split(text):
    assert parse_params("random-forest", {"variables_per_split": text})["variables_per_split"] is None
    assert parse_params("random-forest", {"max_nodes": text})["max_nodes"] is None


@pytest.mark.parametrize("name", ["n_trees", "seed", "bag_fraction", "min_leaf_population"])
def test_parse_params_none_rejected_where_not_allowed(name):
    with pytest.raises(ClassifierError, match=rf"parameter {name} needs a value"):
        parse_params("random-forest", {name: "none"})


def test_parse_params_unknown_param_lists_valid_ones():
    with pytest.raises(ClassifierError) as info:
        parse_params("random-forest", {"max_depth": 5})
    message = str(info.value)
    assert "'max_depth'" in message
    for name in RF_PARAMS:
        assert name in message


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_trees", 0),
        ("n_trees", "5001"),
        ("n_trees", -1),
        ("bag_fraction", "1.5"),
        ("bag_fraction", 0),
        ("bag_fraction", "0.001"),
        ("min_leaf_population", 0),
        ("variables_per_split", 0),
        ("max_nodes", 1),
        ("seed", -1),
    ],
)
def test_parse_params_out_of_range(name, value):
    with pytest.raises(ClassifierError, match=rf"parameter {name}=.* is outside \["):
        parse_params("random-forest", {name: value})


@pytest.mark.parametrize("name, value", [("n_trees", 1), ("n_trees", 5000), ("bag_fraction", 0.01),
                                         ("bag_fraction", 1.0), ("max_nodes", 2), ("seed", 0)])
def test_parse_params_range_bounds_inclusive(name, value):
    assert parse_params("random-forest", {name: value})[name] == value


@pytest.mark.parametrize("value", ["2.5", 2.5, "ten", "", "1e400", "nan"])
def test_parse_params_non_integer_for_int_param(value):
    with pytest.raises(ClassifierError, match=r"n_trees"):
        parse_params("random-forest", {"n_trees": value})


def test_parse_params_non_integer_message_names_value():
    with pytest.raises(ClassifierError, match=r"n_trees='2.5' is not a"):
        parse_params("random-forest", {"n_trees": "2.5"})


@pytest.mark.parametrize("value", ["half", "nan", "inf", float("nan")])
def test_parse_params_bad_float(value):
    with pytest.raises(ClassifierError, match="bag_fraction"):
        parse_params("random-forest", {"bag_fraction": value})


def test_parse_params_does_not_modify_input():
    given = {"n_trees": "50"}
    parse_params("random-forest", given)
    assert given == {"n_trees": "50"}


# --- parse_param_args ------------------------------------------------------------------------------------


def test_parse_param_args():
    assert parse_param_args(["n_trees=50"]) == {"n_trees": "50"}
    assert parse_param_args(["n_trees=50", " seed = 3 ", "variables_per_split=none"]) == {
        "n_trees": "50",
        "seed": "3",
        "variables_per_split": "none",
    }
    assert parse_param_args(None) == {}
    assert parse_param_args([]) == {}


def test_parse_param_args_value_with_equals_sign():
    assert parse_param_args(["a=b=c"]) == {"a": "b=c"}


@pytest.mark.parametrize("item", ["n_trees", "=50", " =50", ""])
def test_parse_param_args_without_name_or_equals(item):
    with pytest.raises(ClassifierError, match=r"name=value"):
        parse_param_args([item])


def test_parse_param_args_then_parse_params():
    params = parse_params("rf", parse_param_args(["n_trees=50", "variables_per_split=none"]))
    assert params["n_trees"] == 50
    assert params["variables_per_split"] is None


# --- names and aliases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rf", "RF", "random-forest", " Random-Forest ", "randomforest", "random_forest"])
def test_aliases_resolve(name):
    assert get_spec(name).name == "random-forest"
    assert isinstance(make_classifier(name), RandomForestClassifier)


def test_unknown_classifier_lists_available():
    with pytest.raises(ClassifierError) as info:
        parse_params("svm", {})
    message = str(info.value)
    assert "'svm'" in message
    for name in CLASSIFIERS:
        assert name in message
    with pytest.raises(ClassifierError, match="available: .*random-forest"):
        make_classifier("gradient-boosting")


# --- the fitted forest -----------------------------------------------------------------------------------


def test_random_forest_separates_two_clusters():
    rng = np.random.default_rng(0)
    # two clusters of 4-band "reflectances", far apart compared with their spread
    water = rng.normal([0.05, 0.04, 0.03, 0.02], 0.01, size=(60, 4))
    forest = rng.normal([0.04, 0.08, 0.05, 0.45], 0.01, size=(60, 4))
    x = np.vstack([water, forest])
    y = np.array([1] * 60 + [2] * 60)
    clf = make_classifier("random-forest", {"n_trees": 10})
    clf.fit(x, y)
    test_water = rng.normal([0.05, 0.04, 0.03, 0.02], 0.01, size=(20, 4))
    test_forest = rng.normal([0.04, 0.08, 0.05, 0.45], 0.01, size=(20, 4))
    assert (clf.predict(test_water) == 1).all()
    assert (clf.predict(test_forest) == 2).all()
    assert sorted(clf.classes_) == [1, 2]


def test_random_forest_reproducible_with_seed():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 3))
    y = (x[:, 0] + rng.normal(scale=0.8, size=80) > 0).astype(int)
    grid = rng.normal(size=(50, 3))
    p1 = make_classifier("rf", {"n_trees": 8, "seed": 5}).fit(x, y).predict_proba(grid)
    p2 = make_classifier("rf", {"n_trees": 8, "seed": 5}).fit(x, y).predict_proba(grid)
    np.testing.assert_array_equal(p1, p2)

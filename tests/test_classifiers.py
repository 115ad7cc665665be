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
        parse_params("k-nearest-neighbours", {})
    message = str(info.value)
    assert "'k-nearest-neighbours'" in message
    for name in CLASSIFIERS:
        assert name in message
    with pytest.raises(ClassifierError, match="available: .*random-forest"):
        make_classifier("neural-network")


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


# =========================================================================================================
# The other classifiers: gradient tree boosting, CART, naive Bayes, SVM, minimum distance, pasted decision tree
# =========================================================================================================

from sklearn.base import clone  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier  # noqa: E402
from sklearn.naive_bayes import GaussianNB, MultinomialNB  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.svm import SVC, NuSVC  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from landclass_ui.classifiers import (  # noqa: E402
    SCALED,
    MinimumDistanceClassifier,
    TreeTextClassifier,
    feature_importance,
    parse_tree_text,
)

ALL = ["random-forest", "gradient-tree-boost", "hist-gradient-boosting", "cart", "naive-bayes", "svm",
       "minimum-distance", "decision-tree"]
BANDS = ["B02", "B03", "B04", "B8A"]
#: A tree in Earth Engine's text format: water (3) has a dark NIR (B8A), then forest (2) a dark red (B04).
TREE = """n=100
node), split, n, loss, yval, (yprob)
* denotes terminal node

1) root 100 80 1 (0.5 0.3 0.2)
  2) B8A<=0.1 40 10 3 (0.05 0.15 0.8) *
  3) B8A>0.1 60 30 1 (0.7 0.25 0.05)
    6) B04<=0.05 20 5 2 (0.1 0.9 0) *
    7) B04>0.05 40 8 1 (0.95 0.05 0) *
"""


def three_clusters(seed=0, n=60):
    """Water, forest, bare "reflectances" with unsorted, non-consecutive legend values 7, 3, 5."""
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal([0.05, 0.04, 0.03, 0.02], 0.01, (n, 4)),
                   rng.normal([0.04, 0.08, 0.03, 0.45], 0.02, (n, 4)),
                   rng.normal([0.15, 0.15, 0.18, 0.25], 0.02, (n, 4))]).astype(np.float32)
    y = np.array([7] * n + [3] * n + [5] * n)
    return x, y


def fitted(name, params=None, x=None, y=None):
    if x is None:
        x, y = three_clusters()
    if name == "decision-tree":
        params = {"tree": TREE, **(params or {})}
        clf = make_classifier(name, params)
        clf.band_names = BANDS
        return clf.fit(x, y)
    return make_classifier(name, params).fit(x, y)


def test_all_classifiers_registered_with_stable_names():
    assert list(CLASSIFIERS) == ALL
    assert len(CLASSIFIERS) == 8  # SEPAL's seven and histogram gradient boosting
    for alias, name in [("gtb", "gradient-tree-boost"), ("nb", "naive-bayes"), ("mindist", "minimum-distance"),
                        ("rf", "random-forest"), ("SVM", "svm"), ("CART", "cart"), ("tree", "decision-tree"),
                        ("hgb", "hist-gradient-boosting"), ("HistGradientBoosting", "hist-gradient-boosting")]:
        assert get_spec(alias).name == name


@pytest.mark.parametrize("name", ALL)
def test_spec_short_form_and_defaults_valid(name):
    spec = get_spec(name)
    names = [p.name for p in spec.params]
    assert len(names) == len(set(names))
    assert 1 <= len(spec.short) <= 2 and set(spec.short) <= set(names)
    assert spec.label and spec.doc
    for p in spec.params:
        assert p.help
        if p.default is None:
            assert p.none_ok
        else:  # every default passes its own validation
            assert p.parse(p.default) == p.default


@pytest.mark.parametrize("name", [n for n in ALL if n != "decision-tree"])
def test_default_estimator_builds_and_clones(name):
    clf = make_classifier(name)
    assert hasattr(clf, "fit") and hasattr(clf, "predict_proba")
    clone(clf)  # scikit-learn protocol: get_params / set_params


@pytest.mark.parametrize("name", ALL)
def test_scaling_only_where_the_method_needs_it(name):
    clf = make_classifier(name, {"tree": TREE} if name == "decision-tree" else None)
    scaled = isinstance(clf, Pipeline) and isinstance(clf.steps[0][1], MinMaxScaler)
    assert scaled == (name in ("svm", "minimum-distance"))
    assert set(SCALED) == {"svm", "minimum-distance"}


@pytest.mark.parametrize("name", ALL)
def test_probabilities_sum_to_one_in_classes_order(name):
    x, y = three_clusters()
    clf = fitted(name, x=x, y=y)
    proba = clf.predict_proba(x)
    assert proba.shape == (len(x), len(clf.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (proba >= 0).all()
    if name == "decision-tree":  # the tree's classes (1, 2, 3) plus those trained on
        assert list(clf.classes_) == [1, 2, 3, 5, 7]
        return
    assert list(clf.classes_) == [3, 5, 7]
    # the columns are in classes_ order: the most probable column is the true class on separable clusters
    assert (clf.classes_[proba.argmax(axis=1)] == y).mean() > 0.97


@pytest.mark.parametrize("name", ALL)
def test_trained_model_through_predict_block(name):
    """model.fit + predict_block work unchanged for every classifier (legend values 1..3)."""
    import pandas as pd

    from landclass_ui.legend import Legend
    from landclass_ui.model import fit, predict_block
    from landclass_ui.training import SampleTable

    x, y = three_clusters()
    y = np.select([y == 7, y == 3], [3, 2], 1)  # water 3, forest 2, bare 1
    frame = pd.DataFrame(x, columns=BANDS)
    frame.insert(0, "class", y)
    frame.insert(1, "label", np.array(["BARE", "FOREST", "WATER"])[y - 1])
    legend = Legend.from_labels(["BARE", "FOREST", "WATER"])
    model = fit(SampleTable(frame, BANDS), legend, name, {"tree": TREE} if name == "decision-tree" else None)
    block = x.T.reshape(4, 3, 60).copy()
    block[:, 0, 0] = np.nan
    classes, probability = predict_block(model, block)
    assert classes[0, 0] == 255 and probability[0, 0] == 255
    assert (classes.ravel()[1:] == y[1:]).mean() > 0.95
    assert probability.ravel()[1:].min() >= 33  # the winner of 3 classes has at least a third


# --- parameters --------------------------------------------------------------------------------------------


def test_gradient_tree_boost_defaults_not_sepal_preset():
    defaults = parse_params("gtb", None)
    assert defaults == {"n_trees": 100, "shrinkage": 0.1, "sampling_rate": 0.7, "max_nodes": None,
                        "max_depth": 3, "seed": 1}
    clf = make_classifier("gtb")
    assert isinstance(clf, GradientBoostingClassifier)
    assert (clf.n_estimators, clf.learning_rate, clf.subsample, clf.random_state) == (100, 0.1, 0.7, 1)
    sepal = make_classifier("gtb", {"n_trees": "25", "shrinkage": "0.005", "max_nodes": "10"})
    assert (sepal.n_estimators, sepal.learning_rate, sepal.max_leaf_nodes) == (25, 0.005, 10)


HGB_PARAMS = ["max_iter", "learning_rate", "max_nodes", "max_depth", "min_leaf_population", "l2_regularization",
              "early_stopping", "seed"]


def test_hist_gradient_boosting_defaults_are_scikit_learns_without_early_stopping():
    from sklearn.ensemble import HistGradientBoostingClassifier

    defaults = parse_params("hist-gradient-boosting", None)
    assert list(defaults) == HGB_PARAMS
    assert defaults == {"max_iter": 100, "learning_rate": 0.1, "max_nodes": 31, "max_depth": None,
                        "min_leaf_population": 20, "l2_regularization": 0.0, "early_stopping": False, "seed": 1}
    clf = make_classifier("hgb")
    assert isinstance(clf, HistGradientBoostingClassifier)
    ours, theirs = clf.get_params(), HistGradientBoostingClassifier().get_params()
    assert theirs["early_stopping"] == "auto" and ours["early_stopping"] is False  # off: reproducible
    assert ours["random_state"] == 1
    # everything else is scikit-learn's default (loss, bins, the early-stopping settings...)
    assert {k: v for k, v in ours.items() if k not in ("early_stopping", "random_state")} == \
        {k: v for k, v in theirs.items() if k not in ("early_stopping", "random_state")}
    assert get_spec("hgb").label == "Histogram gradient boosting"


def test_hist_gradient_boosting_maps_params():
    clf = make_classifier("hgb", parse_param_args(
        ["max_iter=40", "learning_rate=0.05", "max_nodes=none", "max_depth=6", "min_leaf_population=5",
         "l2_regularization=1.5", "early_stopping=true", "seed=7"]))
    assert (clf.max_iter, clf.learning_rate, clf.max_leaf_nodes, clf.max_depth, clf.min_samples_leaf,
            clf.l2_regularization, clf.early_stopping, clf.random_state) == (40, 0.05, None, 6, 5, 1.5, True, 7)
    for text, value in [("true", True), ("Yes", True), ("1", True), ("false", False), ("no", False), ("0", False),
                        (True, True), (False, False)]:
        assert parse_params("hgb", {"early_stopping": text})["early_stopping"] is value


def test_hist_gradient_boosting_unknown_param_lists_its_params():
    with pytest.raises(ClassifierError) as info:
        parse_params("hist-gradient-boosting", {"n_trees": 50})
    message = str(info.value)
    assert "hist-gradient-boosting has no parameter 'n_trees'" in message
    for name in HGB_PARAMS:
        assert name in message


def test_hist_gradient_boosting_reproducible_and_early_stopping_on_request():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(12_000, 3)).astype(np.float32)  # above 10,000 pixels scikit-learn's "auto" would stop early
    y = (x[:, 0] + rng.normal(scale=0.8, size=len(x)) > 0).astype(int) + 1
    grid = rng.normal(size=(200, 3)).astype(np.float32)
    a = make_classifier("hgb", {"max_iter": 30}).fit(x, y)
    b = make_classifier("hgb", {"max_iter": 30, "seed": 99}).fit(x, y)  # no early stopping, < 200,000 px: unused
    assert a.n_iter_ == b.n_iter_ == 30
    np.testing.assert_array_equal(a.predict_proba(grid), b.predict_proba(grid))
    stopped = make_classifier("hgb", {"max_iter": 1000, "early_stopping": True}).fit(x, y)
    assert stopped.n_iter_ < 1000 and stopped.validation_score_.size > 0


def test_hist_gradient_boosting_handles_nan_itself():
    """NaN in training and prediction pixels: the trees send them along a learnt branch (the pipeline never asks:
    it gives a pixel with a NaN band the nodata class, see test_trained_model_through_predict_block)."""
    x, y = three_clusters()
    x = x.copy()
    x[::5, 1] = np.nan
    clf = make_classifier("hgb").fit(x, y)
    proba = clf.predict_proba(x)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert (clf.predict(x) == y).mean() > 0.97


def test_hist_gradient_boosting_with_too_few_pixels_predicts_the_class_shares():
    """Fewer than 2 x min_leaf_population pixels: no tree can split; every pixel gets the training shares
    (documented with the spec); a lower min_leaf_population lets it learn from a few clicks."""
    x, y = three_clusters(n=6)
    proba = make_classifier("hgb").fit(x, y).predict_proba(x)
    np.testing.assert_allclose(proba, 1 / 3, atol=1e-9)
    small = make_classifier("hgb", {"min_leaf_population": 2}).fit(x, y)
    assert (small.predict(x) == y).mean() > 0.9


def test_hist_gradient_boosting_from_the_command_line_flags():
    """``--classifier hgb --param ...`` gives the recipe's stable name and the parameters as given (checked);
    a bad value stops with the parameter's range in the message."""
    from landclass_ui.cli import _recipe_from_classify, build_parser

    def recipe(*flags):
        args = build_parser().parse_args(["classify", "image.tif", "-t", "t.geojson", "-o", "m.tif", "--preset",
                                          "sepal", *flags])
        return _recipe_from_classify(args)

    ref = recipe("--classifier", "hgb", "--param", "max_iter=60", "--param", "early_stopping=true").classifier
    assert ref.name == "hist-gradient-boosting" and ref.params == {"max_iter": "60", "early_stopping": "true"}
    assert make_classifier(ref.name, ref.params).get_params()["early_stopping"] is True
    with pytest.raises(ClassifierError, match=r"learning_rate=5.0 is outside \[0.0001, 1\]"):
        recipe("--classifier", "hist-gradient-boosting", "--param", "learning_rate=5")


def test_cart_defaults():
    assert parse_params("cart", None) == {"max_nodes": None, "min_leaf_population": 1, "max_depth": None,
                                          "seed": 1}
    clf = make_classifier("cart", {"max_nodes": 8, "min_leaf_population": 3})
    assert isinstance(clf, DecisionTreeClassifier)
    assert (clf.max_leaf_nodes, clf.min_samples_leaf, clf.max_depth) == (8, 3, None)


def test_naive_bayes_variants():
    assert parse_params("nb", None) == {"variant": "gaussian", "lambda": 1e-6}
    gaussian = make_classifier("nb")
    assert isinstance(gaussian, GaussianNB) and gaussian.var_smoothing == 1e-6
    multi = make_classifier("nb", {"variant": "multinomial", "lambda": "0.5"})
    assert isinstance(multi, Pipeline) and isinstance(multi.steps[0][1], MinMaxScaler)
    assert isinstance(multi.steps[-1][1], MultinomialNB) and multi.steps[-1][1].alpha == 0.5


def test_svm_defaults_are_sepal():
    assert parse_params("svm", None) == {"kernel": "linear", "C": 1.0, "type": "c-svc", "nu": 0.5,
                                         "gamma": None, "degree": 3, "coef0": 0.0}
    svm = make_classifier("svm").steps[-1][1].svm
    assert isinstance(svm, SVC)
    assert (svm.kernel, svm.C, svm.gamma, svm.degree, svm.coef0) == ("linear", 1.0, "auto", 3, 0.0)
    nu = make_classifier("svm", {"type": "nu-svc", "nu": 0.3, "kernel": "rbf", "gamma": "2"}).steps[-1][1].svm
    assert isinstance(nu, NuSVC) and (nu.nu, nu.kernel, nu.gamma) == (0.3, "rbf", 2.0)


def test_minimum_distance_defaults():
    assert parse_params("minimum-distance", None) == {"metric": "euclidean", "regularization": 1e-3}
    clf = make_classifier("minimum-distance", {"metric": "mahalanobis"})
    assert isinstance(clf.steps[-1][1], MinimumDistanceClassifier)
    assert clf.steps[-1][1].metric == "mahalanobis"


@pytest.mark.parametrize(
    "name, key, value, match",
    [
        ("gtb", "shrinkage", 0, r"shrinkage=0.0 is outside \["),
        ("gtb", "shrinkage", "1.5", r"outside \["),
        ("gtb", "sampling_rate", "0", r"outside \["),
        ("gtb", "n_trees", "0", r"outside \["),
        ("gtb", "max_depth", "0", r"outside \["),
        ("hgb", "max_iter", "0", r"max_iter=0 is outside \[1, 5000\]"),
        ("hgb", "max_iter", "2.5", r"max_iter='2.5' is not a int"),
        ("hgb", "learning_rate", "0", r"learning_rate=0.0 is outside \[0.0001, 1\]"),
        ("hgb", "learning_rate", "fast", r"learning_rate='fast' is not a float"),
        ("hgb", "max_nodes", "1", r"max_nodes=1 is outside \[2, \]"),
        ("hgb", "max_depth", "0", r"max_depth=0 is outside \[1, 64\]"),
        ("hgb", "min_leaf_population", "0", r"min_leaf_population=0 is outside \[1, \]"),
        ("hgb", "min_leaf_population", "none", r"parameter min_leaf_population needs a value"),
        ("hgb", "l2_regularization", "-0.5", r"l2_regularization=-0.5 is outside \[0, 1e\+06\]"),
        ("hgb", "l2_regularization", "nan", r"l2_regularization='nan' is not a float"),
        ("hgb", "early_stopping", "maybe", r"early_stopping='maybe' is not a bool"),
        ("hgb", "early_stopping", "none", r"parameter early_stopping needs a value"),
        ("hgb", "seed", "-1", r"seed=-1 is outside \["),
        ("cart", "min_leaf_population", "0", r"outside \["),
        ("cart", "max_nodes", "1", r"outside \["),
        ("nb", "variant", "bernoulli", "must be one of gaussian, multinomial"),
        ("nb", "lambda", "-1", r"outside \["),
        ("svm", "kernel", "cubic", "must be one of linear, rbf, poly, sigmoid"),
        ("svm", "type", "one-class", "must be one of c-svc, nu-svc"),
        ("svm", "C", "0", r"outside \["),
        ("svm", "nu", "1.5", r"outside \["),
        ("svm", "degree", "0", r"outside \["),
        ("svm", "gamma", "-1", r"outside \["),
        ("minimum-distance", "metric", "manhattan", "must be one of euclidean, mahalanobis, cosine"),
        ("minimum-distance", "regularization", "2", r"outside \["),
        ("decision-tree", "tree", "not a tree", "decision tree has no root"),
    ],
)
def test_invalid_parameters_rejected(name, key, value, match):
    with pytest.raises(ClassifierError, match=match):
        parse_params(name, {key: value})


def test_parameters_stored_by_stable_names():
    params = parse_params("svm", parse_param_args(["kernel=rbf", "C=10", "gamma=none"]))
    assert params["kernel"] == "rbf" and params["C"] == 10.0 and params["gamma"] is None
    with pytest.raises(ClassifierError, match="svm has no parameter 'cost'"):
        parse_params("svm", {"cost": 1})


def test_bag_size_floor_leaves_other_classifiers_alone():
    from landclass_ui.model import _floor_bag_size

    for name in ALL[1:]:
        clf = make_classifier(name, {"tree": TREE} if name == "decision-tree" else None)
        before = clf.get_params() if hasattr(clf, "get_params") else None
        _floor_bag_size(clf, np.array([1, 2]))
        assert clf.get_params() == before
    forest = make_classifier("rf")
    _floor_bag_size(forest, np.array([1, 2]))
    assert forest.max_samples == 2  # still floors the forest's bag


# --- minimum distance --------------------------------------------------------------------------------------

# Two classes with the same elongated spread: +-5 along x, +-0.5 along y.
ELONGATED_X = np.array([[5, 0.5], [5, -0.5], [-5, 0.5], [-5, -0.5],  # A around (0, 0)
                        [11, 2], [11, 1], [1, 2], [1, 1]], float)  # B around (6, 1.5)
ELONGATED_Y = np.array([1, 1, 1, 1, 2, 2, 2, 2])


def test_minimum_distance_euclidean_and_mahalanobis_disagree():
    """P = (2, 1.2): Euclidean |P-A| = sqrt(4 + 1.44) = 2.33 < |P-B| = sqrt(16 + 0.09) = 4.01, so A.

    Pooled covariance (residuals +-5, +-0.5, 8 pixels - 2 classes = 6 degrees of freedom): diag(200/6, 2/6).
    Mahalanobis d2(A) = 4 / 33.33 + 1.44 / 0.3333 = 0.12 + 4.32 = 4.44; d2(B) = 16 / 33.33 + 0.09 / 0.3333 =
    0.48 + 0.27 = 0.75, so B: along the elongated x axis distance counts little.
    """
    p = np.array([[2.0, 1.2]])
    euclid = MinimumDistanceClassifier("euclidean").fit(ELONGATED_X, ELONGATED_Y)
    np.testing.assert_allclose(euclid._distances(p), [[np.sqrt(5.44), np.sqrt(16.09)]], rtol=1e-9)
    assert euclid.predict(p)[0] == 1
    maha = MinimumDistanceClassifier("mahalanobis", regularization=0.0).fit(ELONGATED_X, ELONGATED_Y)
    np.testing.assert_allclose(maha._distances(p), [[np.sqrt(4.44), np.sqrt(0.75)]], rtol=1e-9)
    assert maha.predict(p)[0] == 2
    # probabilities: exp(-d2 / (2 s2)), s2 = mean own-class d2 per band = (0.75 + 0.75) / 2 = 0.75
    # p(B) = 1 / (1 + exp(-(4.44 - 0.75) / 1.5)) = 1 / (1 + exp(-2.46))
    np.testing.assert_allclose(maha.predict_proba(p)[0, 1], 1 / (1 + np.exp(-2.46)), rtol=1e-9)
    # the default (small) regularization does not change the answer, nor does the pipeline's min-max scaling
    assert make_classifier("md", {"metric": "mahalanobis"}).fit(ELONGATED_X, ELONGATED_Y).predict(p)[0] == 2


def test_minimum_distance_euclidean_probabilities():
    """Own-class squared distances: 25.25 for every pixel, so s2 = 25.25 / 2. At the midpoint both classes are
    equally likely; at A's mean p(A) = 1 / (1 + exp(-|A-B|^2 / (2 s2))) with |A-B|^2 = 36 + 2.25."""
    clf = MinimumDistanceClassifier("euclidean").fit(ELONGATED_X, ELONGATED_Y)
    proba = clf.predict_proba(np.array([[3.0, 0.75], [0.0, 0.0]]))
    np.testing.assert_allclose(proba[0], [0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(proba[1, 0], 1 / (1 + np.exp(-38.25 / 25.25)), rtol=1e-9)


def test_minimum_distance_spectral_angle_ignores_brightness():
    """Cosine: a pixel twice as bright as class A's mean is still A, though far from it in Euclidean terms."""
    x = np.array([[0.1, 0.2], [0.1, 0.2], [0.3, 0.3], [0.3, 0.3]])
    y = np.array([1, 1, 2, 2])
    bright = np.array([[0.2, 0.4]])
    assert MinimumDistanceClassifier("euclidean").fit(x, y).predict(bright)[0] == 2
    cosine = MinimumDistanceClassifier("cosine").fit(x, y)
    assert cosine.predict(bright)[0] == 1
    np.testing.assert_allclose(cosine._distances(bright)[0, 0], 0.0, atol=1e-7)


def test_minimum_distance_mahalanobis_survives_collinear_bands():
    x, y = three_clusters()
    x = np.hstack([x, x[:, :1]])  # a duplicated band: singular covariance without regularization
    clf = make_classifier("md", {"metric": "mahalanobis"}).fit(x, y)
    assert np.isfinite(clf.predict_proba(x)).all()
    assert (clf.predict(x) == y).mean() > 0.97


# --- pasted decision tree ----------------------------------------------------------------------------------


def test_tree_parser_structure():
    root = parse_tree_text(TREE)
    assert root.id == 1 and root.yval == 1 and root.prob == (0.5, 0.3, 0.2) and not root.leaf
    left, right = sorted(root.children, key=lambda n: n.id)
    assert (left.id, left.var, left.op, left.value, left.yval, left.leaf) == (2, "B8A", "<=", 0.1, 3, True)
    assert (right.id, right.var, right.op, right.value, right.leaf) == (3, "B8A", ">", 0.1, False)
    assert sorted(n.id for n in right.children) == [6, 7]


def test_tree_predicts_leaf_distributions():
    clf = TreeTextClassifier(TREE, band_names=BANDS).fit(np.zeros((3, 4)), np.array([1, 2, 3]))
    assert list(clf.classes_) == [1, 2, 3]
    pixels = np.array([[0, 0, 0.50, 0.05],   # dark NIR: leaf 2, water
                       [0, 0, 0.50, 0.10],   # B8A<=0.1 includes 0.1: leaf 2
                       [0, 0, 0.02, 0.30],   # leaf 6: forest
                       [0, 0, 0.20, 0.30]])  # leaf 7: farm
    np.testing.assert_allclose(clf.predict_proba(pixels), [[0.05, 0.15, 0.8], [0.05, 0.15, 0.8],
                                                           [0.1, 0.9, 0], [0.95, 0.05, 0]])
    assert list(clf.predict(pixels)) == [3, 3, 2, 1]


def test_tree_without_probabilities_is_one_hot_and_indentation_free():
    text = "1) root 10 5 1\n2) B8A < 0.1 4 0 3 *\n3) B8A >= 0.1 6 2 1 *"
    clf = TreeTextClassifier(text, band_names=BANDS).fit(np.zeros((2, 4)), np.array([1, 2]))
    assert list(clf.classes_) == [1, 2, 3]  # 2 trained on, never predicted: a zero column
    np.testing.assert_array_equal(clf.predict_proba(np.array([[0, 0, 0, 0.05], [0, 0, 0, 0.1]])),
                                  [[0, 0, 1], [1, 0, 0]])


def test_tree_earth_engine_names_and_zero_based_classes():
    """Earth Engine calls Sentinel-2's red band B4 (ours B04) and numbers classes from 0."""
    text = "1) root 10 5 0 (0.6 0.4)\n  2) B4<=0.05 6 1 1 (0.2 0.8) *\n  3) B4>0.05 4 0 0 (1 0) *"
    clf = TreeTextClassifier(text, band_names=BANDS).fit(np.zeros((2, 4)), np.array([0, 1]))
    assert list(clf.classes_) == [0, 1]
    np.testing.assert_allclose(clf.predict_proba(np.array([[0, 0, 0.01, 0], [0, 0, 0.5, 0]])),
                               [[0.2, 0.8], [1, 0]])
    by_index = TreeTextClassifier(text.replace("B4", "#2")).fit(np.zeros((2, 4)), np.array([0, 1]))
    assert list(by_index.predict(np.array([[0, 0, 0.01, 0]]))) == [1]


def test_tree_nan_pixel_gets_no_class():
    """A NaN band the tree tests gives NaN probabilities and the nodata class 255 (it used to stop at the node
    and take that internal node's class; see tests/test_decision_tree.py)."""
    clf = TreeTextClassifier(TREE, band_names=BANDS).fit(np.zeros((1, 4)), np.array([1]))
    assert np.isnan(clf.predict_proba(np.array([[0, 0, np.nan, 0.3]]))).all()
    assert clf.predict(np.array([[0, 0, np.nan, 0.3]])).tolist() == [255]


@pytest.mark.parametrize(
    "text, match",
    [
        ("n=10\nnode), split, n, loss, yval, (yprob)", "no root"),
        ("2) B4<=1 3 0 1 *", "no root"),
        ("1) B4<=1 3 0 1 *", "only node 1 is the root"),
        ("1) root 10 5 1\n  2) root 3 0 1 *\n  3) B4>0.1 6 0 2 *", "only node 1 is the root"),
        ("1) root 10 5 1\n  3) B4>0.1 6 0 2 *\n  4) B4<=0.1 4 0 1 *", "node 4 has no parent"),
        ("1) root 10 5 1\n  2) B4<=0.1 4 0 1 *", "has 1 children instead of 2"),
        ("1) root 10 5 1 *\n  2) B4<=0.1 4 0 1 *\n  3) B4>0.1 6 0 2 *", "marked as a leaf"),
        ("1) root 10 5 1\n  2) landcover: a,b 4 0 1 *\n  3) landcover: c 6 0 2 *", "line 2 .* is not"),
        ("1) root 10 5 1.5 *", "not a class value"),
        ("1) root 10 5 2 (0.9 0.1) *", "do not match its class"),
    ],
)
def test_tree_parser_errors(text, match):
    with pytest.raises(ClassifierError, match=match):
        parse_params("decision-tree", {"tree": text})


def test_tree_unknown_band_and_missing_tree():
    with pytest.raises(ClassifierError, match="band 'B12'.*B02, B03, B04, B8A"):
        TreeTextClassifier(TREE.replace("B04", "B12"), band_names=BANDS).fit(np.zeros((1, 4)), [1])
    with pytest.raises(ClassifierError, match="paste a tree"):
        make_classifier("decision-tree").fit(np.zeros((1, 4)), [1])


# --- feature importance ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_feature_importance_for_tree_methods_only(name):
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(300, 4))
    y = np.where(x[:, 2] > 0.5, 2, 1)  # only B04 matters
    clf = fitted(name, x=x, y=y)
    importance = feature_importance(clf, BANDS)
    if name in ("random-forest", "gradient-tree-boost", "cart"):
        assert sorted(importance.index) == sorted(BANDS)
        assert importance.sum() == pytest.approx(1.0)
        assert importance.index[0] == "B04" and importance["B04"] > 0.5
    else:
        assert importance is None


def test_feature_importance_of_a_trained_model_uses_its_band_names():
    from landclass_ui.model import TrainedModel

    x, y = three_clusters()
    model = TrainedModel(make_classifier("cart").fit(x, y), BANDS, None, "cart", {})
    assert sorted(feature_importance(model).index) == sorted(BANDS)


# --- the CLS panel -----------------------------------------------------------------------------------------


def _panel(tmp_path, name="random-forest"):
    from landclass_ui.recipe import ClassifierRef, ImageRef, Recipe, TrainingRef
    from landclass_ui.store import RecipeStore
    from landclass_ui.ui.cls import ClassifierPanel

    recipe = Recipe(name="cls", images=[ImageRef("image.tif")], training=[TrainingRef("points")],
                    classifier=ClassifierRef(name))
    store = RecipeStore(recipe, tmp_path / "recipe.json")
    return store, ClassifierPanel(store)


@pytest.mark.parametrize("name", ALL)
def test_panel_builds_short_and_more_forms(tmp_path, name):
    store, panel = _panel(tmp_path, name)
    spec = get_spec(name)
    assert set(panel._fields) == {p.name for p in spec.params}
    assert len(panel.short.children) == len(spec.short)
    assert len(panel.more.children) == len(spec.params) - len(spec.short)


def test_panel_hist_gradient_boosting_fields(tmp_path):
    """The CLS panel builds HGB's form from its Params: a bounded int box for max_iter, text boxes for the float,
    the 'none'-able ints and the boolean; values are checked before they reach the recipe."""
    import html

    import ipywidgets as W

    store, panel = _panel(tmp_path, "hist-gradient-boosting")
    fields = panel._fields
    assert isinstance(fields["max_iter"], W.BoundedIntText) and fields["max_iter"].value == 100
    assert (fields["max_iter"].min, fields["max_iter"].max) == (1, 5000)
    assert fields["max_nodes"].value == "31" and fields["max_depth"].value == "none"
    assert fields["early_stopping"].value == "False" and fields["l2_regularization"].value == "0.0"
    fields["early_stopping"].value = "true"
    fields["max_depth"].value = "8"
    fields["learning_rate"].value = "0.05"
    assert store.recipe.classifier.params == {"early_stopping": True, "max_depth": 8, "learning_rate": 0.05}
    fields["early_stopping"].value = "perhaps"
    assert "early_stopping='perhaps' is not a bool (true or false" in html.unescape(panel.message.value)
    fields["l2_regularization"].value = "-1"
    assert "outside" in panel.message.value
    assert store.recipe.classifier.params == {"early_stopping": True, "max_depth": 8, "learning_rate": 0.05}
    fields["early_stopping"].value = "false"  # back to the default: dropped from the recipe
    assert store.recipe.classifier.params == {"max_depth": 8, "learning_rate": 0.05}
    assert make_classifier("hgb", store.recipe.classifier.params).max_depth == 8


def test_panel_choice_and_tree_fields(tmp_path):
    import ipywidgets as W

    store, panel = _panel(tmp_path, "svm")
    kernel = panel._fields["kernel"]
    assert isinstance(kernel, W.Dropdown) and kernel.value == "linear"
    kernel.value = "rbf"
    assert store.recipe.classifier.params == {"kernel": "rbf"}
    store, panel = _panel(tmp_path / "t", "decision-tree")
    tree = panel._fields["tree"]
    assert isinstance(tree, W.Textarea) and tree.value == ""
    tree.value = TREE
    assert store.recipe.classifier.params == {"tree": TREE.strip()}
    tree.value = "1) root 10 5 1 *\n 2) x"
    assert "decision tree" in panel.message.value
    assert store.recipe.classifier.params == {"tree": TREE.strip()}


def test_panel_shows_importance(tmp_path):
    import pandas as pd

    store, panel = _panel(tmp_path)
    panel.show_importance(pd.Series({"B8A": 0.6, "B04": 0.3, "B02": 0.1}))
    html = panel.importance.value
    assert html.index("B8A") < html.index("B04") < html.index("B02")
    assert "60%" in html and "10%" in html
    panel.show_importance(None)
    assert panel.importance.value == ""

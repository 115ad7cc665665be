"""The pasted decision tree as SEPAL and Earth Engine apply it (``ee.Classifier.decisionTree`` and, for a JSON
array of trees, ``ee.Classifier.decisionTreeEnsemble``; SEPAL: ``lib/js/ee/src/classification/classification.js``,
``createDecisionTreeClassifier``).

1. hand-written trees put a placeholder (9999) as the class of internal nodes: classes come from leaves only;
2. a pixel with NaN in a band the tree uses gets no class (NaN probabilities, ``predict`` -> 255);
3. a JSON array of tree strings is an ensemble: majority vote, ties to the lowest class, probabilities are
   the fraction of trees voting for each class.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_classifiers import TREE  # water (3) has a dark NIR (B8A), then forest (2) a dark red (B04)

from landclass_ui.classifiers import TreeTextClassifier, make_classifier, parse_params, parse_tree_text
from landclass_ui.errors import ClassifierError
from landclass_ui.legend import NODATA_CLASS, Legend

BANDS = ["B02", "B03", "B04", "B8A"]

#: A hand-written tree as Earth Engine users write them: 9999 for n, loss and the class of internal nodes.
PLACEHOLDER_TREE = "\n".join([
    "1) root 9999 9999 9999",
    "2) B8A<=0.1 9999 9999 3 *",
    "3) B8A>0.1 9999 9999 9999",
    "6) B04<=0.05 9999 9999 2 *",
    "7) B04>0.05 9999 9999 1 *",
])



def stump(threshold, low, high, band="B04"):
    """A one-split tree: ``band <= threshold`` -> class ``low``, else ``high``."""
    return f"1) root 10 5 9999\n  2) {band}<={threshold} 5 0 {low} *\n  3) {band}>{threshold} 5 0 {high} *"


def pixels(b04, b8a=0.3):
    """Pixels (n, 4) float64 in BANDS order with the given B04 (and B8A) values."""
    b04 = np.atleast_1d(np.asarray(b04, dtype=np.float64))
    out = np.zeros((len(b04), 4))
    out[:, 2] = b04
    out[:, 3] = b8a
    return out


# --- 1. placeholder classes on internal nodes -----------------------------------------------------------------


def test_placeholder_9999_on_internal_nodes_is_not_a_class():
    clf = TreeTextClassifier(PLACEHOLDER_TREE, band_names=BANDS).fit(np.zeros((1, 4)))
    assert list(clf.classes_) == [1, 2, 3]
    grid = np.array([[0, 0, b04, b8a] for b04 in (0.0, 0.05, 0.051, 0.5) for b8a in (0.0, 0.1, 0.100001, 0.9)])
    predicted = clf.predict(grid)
    assert 9999 not in predicted and set(predicted) <= {1, 2, 3}
    assert list(clf.predict(np.array([[0, 0, 0.5, 0.05], [0, 0, 0.01, 0.5], [0, 0, 0.5, 0.5]]))) == [3, 2, 1]
    np.testing.assert_allclose(clf.predict_proba(grid).sum(axis=1), 1.0)


def test_placeholder_tree_keeps_the_trained_classes_but_not_9999():
    clf = TreeTextClassifier(PLACEHOLDER_TREE, band_names=BANDS).fit(np.zeros((3, 4)), np.array([1, 4, 4]))
    assert list(clf.classes_) == [1, 2, 3, 4]


@pytest.mark.parametrize("placeholder", ["9999", "-1", "NA", "0.5"])
def test_any_placeholder_on_internal_nodes_is_accepted(placeholder):
    text = PLACEHOLDER_TREE.replace("9999\n", f"{placeholder}\n")  # the class of nodes 1 and 3
    assert text.count(f" {placeholder}\n") == 2
    parse_params("decision-tree", {"tree": text})  # _check_tree accepts it
    clf = TreeTextClassifier(text, band_names=BANDS).fit(np.zeros((1, 4)))
    assert list(clf.classes_) == [1, 2, 3]


def test_placeholder_on_internal_nodes_with_probabilities():
    """Probabilities of internal nodes are not used, so a placeholder class there is not checked against them."""
    text = ("1) root 100 50 9999 (0.5 0.5)\n  2) B04<=0.1 50 5 0 (0.9 0.1) *\n"
            "  3) B04>0.1 50 5 1 (0.2 0.8) *")
    parse_params("decision-tree", {"tree": text})
    clf = TreeTextClassifier(text, band_names=BANDS).fit(np.zeros((1, 4)))
    assert list(clf.classes_) == [0, 1]
    np.testing.assert_allclose(clf.predict_proba(pixels([0.05, 0.5])), [[0.9, 0.1], [0.2, 0.8]])


def test_placeholder_tree_through_the_model_never_maps_9999():
    from landclass_ui.model import fit, predict_block
    from landclass_ui.training import SampleTable

    frame = pd.DataFrame(np.array([[0, 0, 0.5, 0.05], [0, 0, 0.01, 0.5], [0, 0, 0.5, 0.5]]), columns=BANDS)
    frame.insert(0, "class", [3, 2, 1])
    model = fit(SampleTable(frame, BANDS), Legend.from_labels(["BARE", "FOREST", "WATER"]), "decision-tree",
                {"tree": PLACEHOLDER_TREE})
    assert list(model.class_values) == [1, 2, 3]
    block = frame[BANDS].to_numpy("float32").T.reshape(4, 1, 3)
    classes, probability = predict_block(model, block)
    assert classes.tolist() == [[3, 2, 1]] and probability.tolist() == [[100, 100, 100]]


def test_leaf_must_predict_a_class_value():
    with pytest.raises(ClassifierError, match=r"line 2: leaf class 9999.5 is not a class value"):
        parse_params("decision-tree", {"tree": stump(0.1, "9999.5", 2)})
    with pytest.raises(ClassifierError, match=r"255 is the nodata value"):
        parse_params("decision-tree", {"tree": stump(0.1, 255, 2)})


# --- 2. NaN: no class --------------------------------------------------------------------------------------


def test_nan_in_a_band_the_tree_uses_gives_nan_probabilities_and_nodata_class():
    clf = TreeTextClassifier(TREE, band_names=BANDS).fit(np.zeros((1, 4)), np.array([1]))
    x = np.array([[0, 0, np.nan, 0.3],     # B04 NaN at node 3's split: no class (was node 3's class 1)
                  [0, 0, 0.02, np.nan],    # B8A NaN at the root
                  [0, 0, np.nan, 0.05],    # B04 NaN, although the pixel's path (B8A<=0.1) does not test it
                  [np.nan, 0, 0.02, 0.3],  # B02 is not in the tree: classified
                  [0, 0, 0.02, 0.3]])
    proba = clf.predict_proba(x)
    assert proba.shape == (5, 3) and proba.dtype == np.float64
    assert np.isnan(proba[:3]).all()
    np.testing.assert_allclose(proba[3:], [[0.1, 0.9, 0], [0.1, 0.9, 0]])
    predicted = clf.predict(x)
    assert predicted.tolist() == [NODATA_CLASS] * 3 + [2, 2]
    assert NODATA_CLASS not in clf.classes_


def test_nan_in_a_placeholder_tree_is_not_9999():
    clf = TreeTextClassifier(PLACEHOLDER_TREE, band_names=BANDS).fit(np.zeros((1, 4)))
    x = np.array([[0, 0, np.nan, 0.5], [0, 0, 0.5, np.nan]])
    assert np.isnan(clf.predict_proba(x)).all()
    assert clf.predict(x).tolist() == [NODATA_CLASS, NODATA_CLASS]


def test_nan_in_an_ensemble_is_nodata():
    text = json.dumps([stump(0.1, 1, 2), stump(0.3, 1, 2, band="B8A")])
    clf = TreeTextClassifier(text, band_names=BANDS).fit(np.zeros((1, 4)))
    x = np.array([[0, 0, np.nan, 0.5], [0, 0, 0.5, np.nan], [np.nan, np.nan, 0.5, 0.5]])
    proba = clf.predict_proba(x)
    assert np.isnan(proba[:2]).all() and proba[2].tolist() == [0, 1]
    assert clf.predict(x).tolist() == [NODATA_CLASS, NODATA_CLASS, 2]


# --- 3. JSON array of trees: an ensemble ------------------------------------------------------------------------


def test_json_array_is_a_majority_vote():
    text = json.dumps([stump(0.1, 1, 2), stump(0.2, 1, 2), stump(0.3, 1, 3)])
    clf = make_classifier("decision-tree", {"tree": text})
    clf.band_names = BANDS
    clf.fit(np.zeros((1, 4)))
    assert list(clf.classes_) == [1, 2, 3]
    x = pixels([0.05, 0.15, 0.25, 0.5])
    np.testing.assert_allclose(clf.predict_proba(x), [[1, 0, 0], [2 / 3, 1 / 3, 0], [1 / 3, 2 / 3, 0],
                                                      [0, 2 / 3, 1 / 3]])
    assert clf.predict(x).tolist() == [1, 1, 2, 2]


def test_ensemble_tie_goes_to_the_lowest_class():
    clf = TreeTextClassifier(json.dumps([stump(0.1, 3, 3), stump(0.1, 2, 2)]), band_names=BANDS)
    clf.fit(np.zeros((1, 4)))
    np.testing.assert_allclose(clf.predict_proba(pixels([0.0, 0.5])), [[0.5, 0.5], [0.5, 0.5]])
    assert clf.predict(pixels([0.0, 0.5])).tolist() == [2, 2]


def test_ensemble_votes_ignore_leaf_probabilities():
    """Each tree casts one vote for its leaf's class, whatever the leaf's class distribution."""
    with_prob = "1) root 10 5 0 (0.5 0.5)\n2) B04<=0.1 5 2 0 (0.6 0.4) *\n3) B04>0.1 5 1 1 (0.2 0.8) *"
    clf = TreeTextClassifier(json.dumps([with_prob, with_prob, stump(0.1, 1, 1)]), band_names=BANDS)
    clf.fit(np.zeros((1, 4)))
    np.testing.assert_allclose(clf.predict_proba(pixels([0.0])), [[2 / 3, 1 / 3]])


def test_json_array_item_may_hold_several_trees():
    """Earth Engine: 'Each item in the list should contain one or more trees in text format.'"""
    text = json.dumps([stump(0.1, 1, 2) + "\n" + stump(0.2, 1, 2), stump(0.3, 1, 3)])
    clf = TreeTextClassifier(text, band_names=BANDS).fit(np.zeros((1, 4)))
    np.testing.assert_allclose(clf.predict_proba(pixels([0.15])), [[2 / 3, 1 / 3, 0]])


def test_json_array_of_one_tree_and_json_string_match_the_tree():
    single = TreeTextClassifier(TREE, band_names=BANDS).fit(np.zeros((1, 4)))
    x = np.array([[0, 0, 0.5, 0.05], [0, 0, 0.01, 0.5], [0, 0, 0.5, 0.5]])
    array = TreeTextClassifier(json.dumps([TREE]), band_names=BANDS).fit(np.zeros((1, 4)))
    assert array.predict(x).tolist() == single.predict(x).tolist() == [3, 2, 1]
    np.testing.assert_allclose(array.predict_proba(x), np.eye(3)[[2, 1, 0]])  # one tree: its vote
    quoted = TreeTextClassifier(json.dumps(TREE), band_names=BANDS).fit(np.zeros((1, 4)))  # SEPAL: JSON.parse
    np.testing.assert_allclose(quoted.predict_proba(x), single.predict_proba(x))


def test_json_array_through_the_model_and_predict_block():
    from landclass_ui.model import fit, predict_block
    from landclass_ui.training import SampleTable

    frame = pd.DataFrame(pixels([0.05, 0.15, 0.25, 0.5]), columns=BANDS)
    frame.insert(0, "class", [1, 1, 2, 3])
    text = json.dumps([stump(0.1, 1, 2), stump(0.2, 1, 2), stump(0.3, 1, 3)], indent=2)
    model = fit(SampleTable(frame, BANDS), Legend.from_labels(["A", "B", "C"]), "decision-tree", {"tree": text})
    block = frame[BANDS].to_numpy("float32").T.reshape(4, 1, 4).copy()
    block[2, 0, 3] = np.nan
    classes, probability = predict_block(model, block)
    assert classes.tolist() == [[1, 1, 2, NODATA_CLASS]]
    assert probability.tolist() == [[100, 67, 67, 255]]


@pytest.mark.parametrize(
    "items, match",
    [
        ([stump(0.1, 1, 2), "1) root 10 5 1\n2) B04<=0.1 5 0 1 *\n3) B04 > 5 0 2 *"],
         r"decision tree 2 of the JSON array: line 3 '3\) B04 > 5 0 2 \*' is not"),
        ([stump(0.1, 1, 2), stump(0.1, 1, 2), "n=3"], r"decision tree 3 of the JSON array has no root"),
        ([stump(0.1, 1, 2), 7], r"item 2 of the JSON array is a number, not a tree string"),
        ([], r"JSON array has no trees"),
        ([stump(0.1, 1, 2) + "\n" + stump(0.2, 1, "x")], r"decision tree 1 of the JSON array \(its tree 2\): "
                                                         r"line 6: leaf class x is not a class value"),
    ],
)
def test_json_array_errors_name_the_tree_and_line(items, match):
    with pytest.raises(ClassifierError, match=match):
        parse_params("decision-tree", {"tree": json.dumps(items)})


def test_broken_json_array_says_how_to_write_it():
    text = '["1) root 10 5 1\n2) B04<=0.1 5 0 1 *\n3) B04>0.1 5 0 2 *"]'  # raw newlines: not JSON
    with pytest.raises(ClassifierError, match=r"not a valid JSON array of tree strings .*\\n"):
        parse_params("decision-tree", {"tree": text})
    with pytest.raises(ClassifierError, match=r"a JSON array of tree strings or a single tree, not a JSON object"):
        parse_params("decision-tree", {"tree": '{"tree": "1) root 1 1 1 *"}'})


def test_two_roots_outside_a_json_array_point_to_the_array():
    with pytest.raises(ClassifierError, match=r"node 1 appears twice.*JSON array"):
        parse_params("decision-tree", {"tree": stump(0.1, 1, 2) + "\n" + stump(0.2, 1, 2)})


def test_ensemble_unknown_band_names_the_tree():
    text = json.dumps([stump(0.1, 1, 2), stump(0.1, 1, 2, band="B12")])
    with pytest.raises(ClassifierError, match=r"decision tree 2 of the JSON array uses band 'B12'"):
        TreeTextClassifier(text, band_names=BANDS).fit(np.zeros((1, 4)))


# --- the two children of a node split on one condition ----------------------------------------------------------


@pytest.mark.parametrize(
    "left, right, match",
    [
        ("B04<0.1", "B04>0.1", r"node 3's condition B04>0.1 is not the opposite of node 2's B04<0.1.*B04>=0.1"),
        ("B04<=0.1", "B04>0.2", r"node 3's condition B04>0.2 is not the opposite of node 2's B04<=0.1"),
        ("B04<=0.1", "B8A>0.1", r"nodes 2 \(B04<=0.1\) and 3 \(B8A>0.1\) test different bands"),
    ],
)
def test_children_must_split_on_one_condition(left, right, match):
    with pytest.raises(ClassifierError, match=match):
        parse_params("decision-tree", {"tree": f"1) root 10 5 1\n2) {left} 5 0 1 *\n3) {right} 5 0 2 *"})


@pytest.mark.parametrize("left, right", [("B04<0.1", "B04>=0.1"), ("B04>0.1", "B04<=0.1"), ("B04=1", "B04!=1"),
                                         ("B04<=0.10", "B04>0.1")])
def test_complementary_children_accepted(left, right):
    root = parse_tree_text(f"1) root 10 5 1\n2) {left} 5 0 1 *\n3) {right} 5 0 2 *")
    assert len(root.children) == 2

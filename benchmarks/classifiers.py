"""Benchmark: every registered classifier (default parameters) trained on the bundled Sentinel-2 scene's
tutorial polygons and scored against a second annotator's polygons (``tests/data/s2_t31tcj/
polygons_emunaibari.geojson``, farmland = FARM), with fit and predict times.

Prediction covers the whole scene (1830 x 1830 px = 3.35 Mpx, window by window with :func:`predict_block`, as
the engine does); the SVM variants with a non-linear kernel predict the reference pixels only (84,655 px, all
the accuracy needs), their row says so. Rows after the defaults are variants (parameters in brackets), among
them SEPAL's gradient-boosting preset, which shows why it is not our default. The decision tree is a
CART of at most 16 leaves fitted on the same pixels, written out in Earth Engine's text format and pasted back
(what a SEPAL user does with ``explain()['tree']``), so it measures the parser and the pasted-tree predictor.

Run with::

    .venv/bin/python benchmarks/classifiers.py
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests/data/s2_t31tcj/polygons_emunaibari.geojson"
MAPPING = {"farm": 1, "farmland": 1, "forest": 2, "water": 3}
VARIANTS = [
    ("gradient-tree-boost", {"n_trees": 25, "shrinkage": 0.005}),
    ("naive-bayes", {"variant": "multinomial"}),
    ("svm", {"kernel": "rbf"}),
    ("minimum-distance", {"metric": "mahalanobis"}),
    ("minimum-distance", {"metric": "cosine"}),
]


def reference_raster(stack) -> np.ndarray:
    """uint8 (height, width): the reference class of each pixel whose centre is in a reference polygon, else 0."""
    import geopandas as gpd
    import rasterio.features

    from landclass_ui.legend import normalize_name

    g = stack.grid
    ref = gpd.read_file(REFERENCE).to_crs(g.crs)
    values = ref["class"].map(lambda c: MAPPING[normalize_name(c)])
    return rasterio.features.rasterize(zip(ref.geometry, values), out_shape=(g.height, g.width),
                                       transform=g.transform, fill=0, dtype="uint8")


def tree_text(tree, band_names) -> str:
    """A fitted scikit-learn DecisionTreeClassifier in Earth Engine's (Smile's) text format."""
    t = tree.tree_
    lines = ["n=%d" % t.n_node_samples[0], "node), split, n, loss, yval, (yprob)", "* denotes terminal node"]

    def walk(node, ident, split, depth):
        p = t.value[node][0] / t.value[node][0].sum()
        leaf = t.children_left[node] == -1
        yval = int(tree.classes_[p.argmax()])
        probs = " ".join(f"{v:.5g}" for v in p)
        lines.append(f"{'  ' * depth}{ident}) {split} {t.n_node_samples[node]} {t.impurity[node]:.5g} {yval} "
                     f"({probs}){' *' if leaf else ''}")
        if not leaf:
            name, thr = band_names[t.feature[node]], t.threshold[node]
            walk(t.children_left[node], 2 * ident, f"{name}<={thr:.6g}", depth + 1)
            walk(t.children_right[node], 2 * ident + 1, f"{name}>{thr:.6g}", depth + 1)

    walk(0, 1, "root", 0)
    return "\n".join(lines)


def pasted_tree_params(prepared) -> dict:
    from sklearn.tree import DecisionTreeClassifier

    s = prepared.samples
    cart = DecisionTreeClassifier(max_leaf_nodes=16, random_state=1).fit(s.features, s.classes)
    # columns of the listed probabilities are the tree's classes (1, 2, 3) in order
    return {"tree": tree_text(cart, s.band_names)}


def main() -> None:
    from landclass_ui.classifiers import CLASSIFIERS
    from landclass_ui.model import fit, predict_block
    from landclass_ui.pipeline import prepare
    from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
    from landclass_ui.sample import sample_paths

    s = sample_paths()
    prepared = prepare(Recipe(images=[ImageRef(s.safe)], training=[TrainingRef("file", s.polygons, "class")]))
    data = prepared.stack.read()
    truth = reference_raster(prepared.stack)
    rows, cols = np.nonzero(truth)
    n_samples = len(prepared.samples.frame)
    print(f"training: {n_samples} px; reference: {len(rows)} px; scene {data.shape[2]} x {data.shape[1]} px\n")
    print("| classifier | OA vs emunaibari | fit s | predict s | predicted |")
    print("|---|---|---|---|---|")
    runs = [(name, None) for name in CLASSIFIERS] + VARIANTS
    for name, params in runs:
        label = name + (" (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")
        if name == "decision-tree":
            params = pasted_tree_params(prepared)
            label += " (pasted 16-leaf CART)"
        model = fit(prepared.samples, prepared.legend, name, params)
        start = time.perf_counter()
        if name == "svm" and model.params["kernel"] != "linear":
            mapped, _ = predict_block(model, data[:, rows, cols][:, None, :])
            mapped = mapped[0]
            what = f"{len(rows)} reference px"
        else:
            full = np.empty(data.shape[1:], np.uint8)
            for r in range(0, data.shape[1], 512):
                for c in range(0, data.shape[2], 512):
                    full[r:r + 512, c:c + 512], _ = predict_block(model, data[:, r:r + 512, c:c + 512])
            mapped = full[rows, cols]
            what = "full scene"
        seconds = time.perf_counter() - start
        keep = mapped != 255
        oa = float((mapped[keep] == truth[rows, cols][keep]).mean())
        print(f"| {label} | {oa:.3f} | {model.fit_seconds:.2f} | {seconds:.2f} | {what} |", flush=True)


if __name__ == "__main__":
    main()

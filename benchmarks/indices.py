"""Benchmark: does adding spectral indices help? The bundled Sentinel-2 scene (60 m, B02 B03 B04 B8A) is
classified from its tutorial polygons with the default random forest, once on the bands alone and once on the
bands + NDVI + NDWI (:mod:`landclass_ui.indices`), for a few forest seeds, and each map is scored against an
independent annotator's polygons (``tests/data/s2_t31tcj/polygons_emunaibari.geojson``, ``farmland`` = FARM):
overall accuracy over the reference pixels (centre inside a reference polygon), as ``tests/test_cli.py`` does.

Run with::

    .venv/bin/python benchmarks/indices.py [--seeds 1 2 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from landclass_ui.pipeline import run
from landclass_ui.recipe import DerivedRef, ImageRef, PairwiseRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths

REFERENCE = Path(__file__).resolve().parents[1] / "tests/data/s2_t31tcj/polygons_emunaibari.geojson"

VARIANTS = {
    "bands only": DerivedRef(),
    "bands + NDVI + NDWI": DerivedRef(indices=["ndvi", "ndwi"]),
    "bands + ND of every pair": DerivedRef(PairwiseRef(["nd"])),
}


def overall_accuracy(result) -> tuple[float, int]:
    """Share of reference pixels whose mapped class agrees (the engine's reference assessment, unweighted)."""
    cm = result.accuracy.confusion_matrix.to_numpy()
    return float(np.trace(cm) / cm.sum()), int(cm.sum())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Several features with id")  # the reference GeoJSON's ids
    s = sample_paths()
    print(f"reference: {REFERENCE.name}; default random forest; seeds {args.seeds}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, derived in VARIANTS.items():
            scores = []
            start = time.perf_counter()
            for seed in args.seeds:
                recipe = Recipe(name="bench", images=[ImageRef(s.safe)],
                                training=[TrainingRef("file", s.polygons, "class")], derived=derived)
                recipe.classifier.params = {"seed": seed}
                out = f"{tmp}/{label.replace(' ', '_')}_{seed}.tif"
                result = run(recipe, out, reference=TrainingRef("file", str(REFERENCE), "class"),
                             reference_remap={"farmland": "FARM"})
                oa, n = overall_accuracy(result)
                scores.append(oa)
            secs = (time.perf_counter() - start) / len(args.seeds)
            print(f"{label:26s} features {len(result.model.band_names):2d}  OA "
                  + " ".join(f"{x:.4f}" for x in scores)
                  + f"  mean {np.mean(scores):.4f}  on {n} px  ({secs:.1f} s per run)")


if __name__ == "__main__":
    main()

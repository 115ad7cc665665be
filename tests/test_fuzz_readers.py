"""A fuzz pass over the file readers (issue "Reliability: every bad input gets a clear message").

Small real files of tests/data (see tests/data/SOURCE.md: GeoTIFFs striped and tiled, Sentinel-2 JPEG2000 band and
SCL, a band folder with its STAC item, a shapefile part by part, a GeoPackage, GeoJSON polygons) and files the
project writes (a legend CSV, QGIS style and iota2 pair, a recipe saved by ``Recipe.save``, a CSV of the real
Landsat training points, a Landsat MTL's scale lines) are copied truncated (empty, 1 byte, 10 %, 50 %, 90 %, the
last byte missing) and bit-flipped (k random bytes XOR random masks, seeded, anywhere in the file and within its
first KB where the headers live; half the seeds with 7-bit masks, which keep text files text) and given to the
reader the app uses for their kind: ``open_image`` and reading every pixel (whole grid and a reduced view), then
sampling the image under its real training data when there are some; ``read_training``; the reference-sample
reader ``pipeline.read_reference``; ``Legend.read``; ``Recipe.load``.

Every variant must give a valid result (a flipped bit in compressed pixels may well decode to other values) or one
:class:`~landclass_ui.errors.LandclassError` whose message is one line naming the file. Any other exception is a
bug, and so is a crash of the process: GDAL, libtiff, OpenJPEG and SQLite decode inside it. So the variants of
each kind run in one child process (this file run as a script) that prints a JSON line before and after each
read; a segfault or abort fails the test naming the variant instead of killing pytest.

Three cases run the ``landclass classify`` command on a truncated band file, a bit-flipped training file and a
reference CSV with a flipped class name: exit status 2, exactly one line on stderr, no output file.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve()
DATA = HERE.parent / "data"
TIMEOUT = 240  # seconds for one kind's variants; they take a few

L8 = DATA / "l8_t11upt"
L8_BANDS = [L8 / f"LC08_L2SP_043024_20200802_20200914_02_T1_SR_{b}.tif" for b in ("B2", "B3", "B4", "B5")]
T11UPT = DATA / "s2_t11upt"


# --- corrupted copies ---------------------------------------------------------------------------------------


def truncations(data: bytes) -> dict[str, bytes]:
    """The file cut to 0 bytes, 1 byte, 10 %, 50 %, 90 % and all but its last byte."""
    n = len(data)
    cuts = {"empty": 0, "1 byte": 1, "10 %": n // 10, "50 %": n // 2, "90 %": n * 9 // 10, "last byte missing": n - 1}
    return {f"truncated to {label} ({k} of {n} bytes)": data[:k] for label, k in cuts.items()}


def flipped(data: bytes, seed: int, k: int, *, within: int | None = None, seven_bit: bool = False) -> bytes:
    """``k`` distinct bytes (among the first ``within``, default all) XOR random non-zero masks (below 128 with
    ``seven_bit``: ASCII stays ASCII), drawn with numpy's generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    span = min(len(data), within or len(data))
    where = rng.choice(span, size=min(k, span), replace=False)
    masks = rng.integers(1, 128 if seven_bit else 256, size=len(where))
    out = bytearray(data)
    for i, m in zip(where, masks):
        out[i] ^= int(m)
    assert bytes(out) != data
    return bytes(out)


def bit_flips(data: bytes, seeds: int = 4) -> dict[str, bytes]:
    """Per seed (0, 1, ... ``seeds`` - 1): 1, 8 and 64 bytes flipped anywhere, 1, 4 and 16 within the first KB;
    7-bit masks on odd seeds."""
    out = {}
    for seed in range(seeds):
        seven = seed % 2 == 1
        bits = "7-bit masks" if seven else "8-bit masks"
        for k in (1, 8, 64):
            out[f"{k} byte(s) flipped anywhere, seed {seed}, {bits}"] = flipped(data, seed * 1000 + k, k,
                                                                                   seven_bit=seven)
        for k in (1, 4, 16):
            out[f"{k} byte(s) flipped in the first KB, seed {seed}, {bits}"] = flipped(
                data, seed * 1000 + 500 + k, k, within=1024, seven_bit=seven)
    return out


def variants(data: bytes, seeds: int = 4) -> dict[str, bytes]:
    """The unchanged file (a control: it must read), its 6 truncations and its 6 x ``seeds`` bit flips."""
    return {"unchanged": data, **truncations(data), **bit_flips(data, seeds)}


# --- the files and their readers ----------------------------------------------------------------------------


@dataclass
class Source:
    """Files to corrupt: ``files`` are copied into one folder per variant, ``corrupt`` (names among them) is
    corrupted, one member at a time, and the reader ``kind`` gets ``given`` (names in the folder) and ``options``.
    ``optional`` members are metadata the reader may do without: empty, they may give a valid result. ``seeds``:
    how many seeds of bit flips (6 variants each)."""

    kind: str
    files: list[Path]
    given: list[str]
    corrupt: list[str] | None = None  # default: every file
    options: dict = field(default_factory=dict)
    optional: tuple[str, ...] = ()
    seeds: int = 10


def _points_csv(folder: Path) -> Path:
    """The 89 real Landsat training points (l8_t11upt/training_points.shp) as a CSV of lon/lat and class name."""
    import geopandas as gpd

    frame = gpd.read_file(L8 / "training_points.shp").to_crs("EPSG:4326")
    lines = ["XCoordinate,YCoordinate,class"] + [f"{p.x:.7f},{p.y:.7f},{c}"
                                                  for p, c in zip(frame.geometry, frame["MC_name"])]
    path = folder / "training_points.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _legend_files(folder: Path) -> dict[str, Path]:
    from landclass_ui.legend import Legend

    legend = Legend.from_labels(["Built Up", "Vegetation", "Bare Earth", "Water"])
    out = {"csv": folder / "legend.csv", "qml": folder / "map.qml", "nomenclature": folder / "nomenclature.txt",
           "colorFile": folder / "colorFile.txt"}
    legend.to_csv(out["csv"])
    legend.to_qml(out["qml"])
    legend.to_iota2(out["colorFile"], out["nomenclature"])
    return out


def _recipe_file(folder: Path) -> Path:
    from landclass_ui.legend import Legend
    from landclass_ui.recipe import (
        CloudMaskRef,
        DerivedRef,
        ImageRef,
        PairwiseRef,
        Recipe,
        RegionsRef,
        RegularizationRef,
        TrainingRef,
    )

    legend = Legend.from_labels(["Built Up", "Vegetation", "Bare Earth", "Water"])
    recipe = Recipe(
        name="T11UPT_2020-08-04",
        images=[ImageRef(p.name, ["B2", "B5"] if i == 0 else None) for i, p in enumerate(L8_BANDS)]
        + [ImageRef("S2A2A_20170703_022_Barbellino_BOA_10.tif", None, None, 0.0001, 0.0)],
        legend=legend.to_list(),
        training=[TrainingRef("file", path="training_points.shp", class_field="MC_name",
                              remap={"Bare Earth": "Vegetation"}, filter="MC_ID > 0"),
                  TrainingRef("points", points=[{"x": -115.9, "y": 51.9, "class": 4},
                                                {"x": -115.8, "y": 51.91, "class": 2}], source="clicked")],
        derived=DerivedRef(PairwiseRef(["nd"], ["B4", "B5"]), ["ndvi"], "landsat-8", {"red": "B4"}),
        cloud_mask=CloudMaskRef(True, True, None, False),
        regularization=RegularizationRef(3, 0.5, "ha"),
        regions=RegionsRef("regions.gpkg", "region", None),
        auxiliary=["latitude", {"layer": "terrain", "path": "dem.tif", "bands": ["elevation"]}],
    )
    recipe.classifier.params = {"n_trees": 50}
    path = folder / "recipe.json"
    recipe.save(path)
    return path


def _landsat_mtl(folder: Path) -> Path:
    """The two lines of a Landsat C2 L2 ``_MTL.txt`` that set band 2's reflectance scale, in the USGS layout (the
    test data have no MTL; these are the values of the USGS product guide)."""
    product = L8_BANDS[0].name.rsplit("_SR_", 1)[0]
    path = folder / f"{product}_MTL.txt"
    path.write_text("GROUP = LANDSAT_METADATA_FILE\n  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS\n"
                    "    REFLECTANCE_MULT_BAND_2 = 2.75E-05\n    REFLECTANCE_ADD_BAND_2 = -0.200000\n"
                    "  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS\nEND_GROUP = LANDSAT_METADATA_FILE\nEND\n")
    return path


def sources(generated: Path) -> dict[str, Source]:
    """Every kind of file the app reads, by a short id."""
    csv = _points_csv(generated)
    legend = _legend_files(generated)
    mtl = _landsat_mtl(generated)
    scl = T11UPT / "T11UPT_20200804T183919_SCL_60m.jp2"
    b02 = T11UPT / "T11UPT_20200804T183919_B02_60m.jp2"
    stac = DATA / "s2_t33twl/S2A_33TWL_20230815_0_L2A"
    shp = [T11UPT / f"landcover.{ext}" for ext in ("shp", "shx", "dbf", "prj")]
    points = ["Built Up", "Vegetation", "Bare Earth", "Water"]
    l8_training = {"training": str(L8 / "training_points.shp"), "class_field": "MC_name"}
    t11upt_training = {"training": str(T11UPT / "landcover.shp"), "class_field": "MC_name"}
    return {
        # GeoTIFFs: striped LZW uint8, 11-band deflate, tiled deflate with predictor (a Landsat C2 L2 name), each
        # read whole and reduced, and sampled under its training data when the test data have some
        "tif-l5-lzw": Source("image", [DATA / "l5_amazon/LT52240631988227CUB02_B1.TIF"],
                             ["LT52240631988227CUB02_B1.TIF"],
                             options={"training": str(DATA / "l5_amazon/training_polygons.gpkg"),
                                      "class_field": "class"}),
        "tif-s2-11band": Source("image", [DATA / "s2_barbellino/S2A2A_20170703_022_Barbellino_BOA_10.tif"],
                                ["S2A2A_20170703_022_Barbellino_BOA_10.tif"]),
        "tif-l8-tiled": Source("image", [L8_BANDS[0]], [L8_BANDS[0].name], options=l8_training),
        # the Landsat band's MTL beside it (its reflectance scale)
        "landsat-mtl": Source("image", [L8_BANDS[0], mtl], [L8_BANDS[0].name], corrupt=[mtl.name],
                              optional=(mtl.name,), seeds=20),
        # JPEG2000 (OpenJPEG): a lossless Sentinel-2 band; its SCL as the cloud mask of an intact band
        "jp2-s2-band": Source("image", [b02], [b02.name], options=t11upt_training),
        "jp2-s2-scl-mask": Source("image", [b02, scl], [b02.name, scl.name], corrupt=[scl.name],
                                  options=t11upt_training),
        # a folder of band files with its STAC item (the item's reflectance scale; then the band files)
        "band-folder": Source("folder", [stac / n for n in ("B02.tif", "B03.tif", f"{stac.name}.json")],
                              ["."], corrupt=[f"{stac.name}.json", "B02.tif"], optional=(f"{stac.name}.json",)),
        # training data: each part of a shapefile, a GeoPackage, a GeoJSON, a CSV of points
        "shapefile": Source("training", shp, ["landcover.shp"], options={"class_field": "MC_name"}),
        "geopackage": Source("training", [DATA / "l5_amazon/training_polygons.gpkg"], ["training_polygons.gpkg"],
                             options={"class_field": "class"}),
        "geojson": Source("training", [DATA / "s2_amazon/training_polygons.geojson"],
                          ["training_polygons.geojson"], options={"class_field": "class"}),
        "points-csv": Source("training", [csv], [csv.name], options={"class_field": "class"}, seeds=30),
        # reference samples: the other annotator's polygons of the tutorial scene, the points as a CSV
        "reference-geojson": Source("reference", [DATA / "s2_t31tcj/polygons_nbertaud.geojson"],
                                    ["polygons_nbertaud.geojson"],
                                    options={"class_field": "class", "crs": "EPSG:32631",
                                             "classes": ["FARM", "FOREST", "WATER"],
                                             "remap": {"farmland": "FARM"}}, seeds=30),
        "reference-csv": Source("reference", [csv], [csv.name],
                                options={"class_field": "class", "crs": "EPSG:32611", "classes": points}, seeds=30),
        # legends as the project writes them (an iota2 colour file is optional: without one, colours are chosen)
        "legend-csv": Source("legend", [legend["csv"]], ["legend.csv"], seeds=30),
        "legend-qml": Source("legend", [legend["qml"]], ["map.qml"], seeds=30),
        "legend-iota2": Source("legend", [legend["nomenclature"], legend["colorFile"]], ["nomenclature.txt"],
                               optional=("colorFile.txt",), seeds=30),
        # a recipe saved by Recipe.save
        "recipe": Source("recipe", [_recipe_file(generated)], ["recipe.json"], seeds=30),
    }


def _read_image(paths: list[str], training: str | None = None, class_field: str | None = None) -> str:
    """Open the image, read every pixel and a reduced view; with ``training``, sample its pixels under the
    training data as a classification does (the features reprojected to the image's CRS)."""
    from landclass_ui.imagery import open_image

    stack = open_image(paths)
    full = stack.read()
    h, w = stack.grid.height, stack.grid.width
    if full.shape != (len(stack.bands), h, w) or full.dtype != np.float32:
        raise AssertionError(f"read gave {full.shape} {full.dtype}, not ({len(stack.bands)}, {h}, {w}) float32")
    view = stack.read(out_shape=(max(1, h // 4), max(1, w // 4)))  # the map's reduced view (averaged)
    if view.shape != (len(stack.bands), max(1, h // 4), max(1, w // 4)):
        raise AssertionError(f"reduced read gave {view.shape}")
    summary = f"{len(stack.bands)} band(s), {h} x {w} px, {int(np.isnan(full).sum())} nodata value(s)"
    if training:
        from landclass_ui.legend import Legend
        from landclass_ui.training import extract_samples, read_training

        frame = read_training(training, class_field, crs=stack.crs)
        samples = extract_samples(stack, frame, Legend.from_labels(frame["label"]), min_classes=0)
        summary += f", {len(samples.frame)} training pixel(s)"
    return summary + "; " + " | ".join(stack.messages)


def _read_training(paths: list[str], class_field: str) -> str:
    from landclass_ui.training import read_training

    frame = read_training(paths[0], class_field)
    if len(frame) == 0 or frame["label"].eq("").any():
        raise AssertionError("read_training returned no feature or an empty label")
    return f"{len(frame)} feature(s), classes {sorted(set(frame['label']))}"


def _read_reference(paths: list[str], class_field: str, crs: str, classes: list[str], remap=None) -> str:
    from types import SimpleNamespace

    from rasterio.crs import CRS

    from landclass_ui.legend import Legend
    from landclass_ui.pipeline import read_reference
    from landclass_ui.recipe import TrainingRef

    prepared = SimpleNamespace(stack=SimpleNamespace(crs=CRS.from_user_input(crs)), legend=Legend.from_labels(classes))
    ref = read_reference(TrainingRef("file", path=paths[0], class_field=class_field), prepared, remap)
    return f"{len(ref.frame)} feature(s), classes {sorted(set(ref.frame['label']))}"


def _read_legend(paths: list[str]) -> str:
    from landclass_ui.legend import Legend

    legend = Legend.read(paths[0])
    return ", ".join(f"{e.value} {e.name} {e.color}" for e in legend)


def _read_recipe(paths: list[str]) -> str:
    from landclass_ui.recipe import Recipe

    recipe = Recipe.load(paths[0])
    json.dumps(recipe.to_dict())  # what was loaded can be saved again
    return f"recipe {recipe.name!r}: {len(recipe.images)} image(s), {len(recipe.training)} training set(s)"


READERS = {"image": _read_image, "folder": _read_image, "training": _read_training, "reference": _read_reference,
           "legend": _read_legend, "recipe": _read_recipe}


def run_case(case: dict) -> dict:
    """Read one variant; the outcome as JSON: valid (and what was read), error (a LandclassError) or bug."""
    from landclass_ui.errors import LandclassError

    try:
        summary = READERS[case["kind"]](case["paths"], **case["options"])
    except LandclassError as exc:
        return {"outcome": "error", "type": type(exc).__name__, "message": str(exc)}
    except Exception as exc:  # any other exception type is what this test looks for
        where = traceback.format_exception(exc)[-3:]
        return {"outcome": "bug", "type": type(exc).__name__, "message": str(exc), "where": "".join(where)}
    return {"outcome": "valid", "summary": summary}


def worker(spec: str) -> None:
    """Child process: read every case of the JSON file ``spec``, one JSON line before and after each."""
    import warnings

    warnings.simplefilter("ignore")
    for i, case in enumerate(json.loads(Path(spec).read_text())):
        print(json.dumps({"start": i}), flush=True)
        print(json.dumps({"done": i, **run_case(case)}), flush=True)


# --- the fuzz tests -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Source]:
    return sources(tmp_path_factory.mktemp("generated"))


def build_cases(source: Source, root: Path) -> list[dict]:
    """One folder per (member, variant) with the corrupted member and intact copies of the others."""
    cases = []
    for member in source.corrupt or [f.name for f in source.files]:
        original = next(f for f in source.files if f.name == member)
        for n, (label, data) in enumerate(variants(original.read_bytes(), source.seeds).items()):
            if label == "unchanged" and cases:
                continue  # one control per source
            folder = root / f"{member}-{n:02d}"
            folder.mkdir(parents=True)
            for f in source.files:
                shutil.copyfile(f, folder / f.name)
            (folder / member).write_bytes(data)
            given = [str(folder / g) if g != "." else str(folder) for g in source.given]
            # the message must name the file given to the reader, the corrupted one or the training data
            names = [Path(g).name for g in given] + [member]
            if source.options.get("training"):
                names.append(Path(source.options["training"]).name)
            cases.append({"variant": f"{member}: {label}", "kind": source.kind, "paths": given,
                          "options": source.options, "names": names, "unchanged": label == "unchanged",
                          "empty": label.startswith("truncated to empty") and member not in source.optional,
                          "empty_optional": label.startswith("truncated to empty") and member in source.optional,
                          "member": member})
    return cases


def run_worker(cases: list[dict], folder: Path) -> list[dict]:
    """The outcome of every case, read in a child process; a crash or hang fails naming the variant."""
    spec = folder / "cases.json"
    spec.write_text(json.dumps(cases))
    try:
        proc = subprocess.run([sys.executable, "-X", "faulthandler", str(HERE), str(spec)], capture_output=True,
                              text=True, timeout=TIMEOUT, cwd=folder)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        started = [json.loads(x) for x in out.splitlines() if x.startswith('{"start"')]
        last = cases[started[-1]["start"]]["variant"] if started else "before the first variant"
        pytest.fail(f"the reader hung for {TIMEOUT} s; last variant started: {last}")
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    done = {x["done"]: x for x in lines if "done" in x}
    started = [x["start"] for x in lines if "start" in x]
    if proc.returncode != 0 or len(done) != len(cases):
        crashed = next((cases[i]["variant"] for i in started if i not in done), "?")
        pytest.fail(f"the reading process crashed (exit status {proc.returncode}) on {crashed}:\n"
                    f"{proc.stderr[-3000:]}")
    return [done[i] for i in range(len(cases))]


def problems_of(cases: list[dict], results: list[dict]) -> list[str]:
    """What breaks the rule: another exception than a LandclassError, a message of several lines or one that
    does not name the file; the unchanged control not read, an empty file read as valid, or an empty optional
    file beside an image (STAC item, MTL) left out without a message naming it."""
    problems = []
    for case, result in zip(cases, results):
        what = f"{case['variant']}: "
        if result["outcome"] == "bug":
            problems.append(what + f"{result['type']}: {result['message']}\n{result['where']}")
        elif result["outcome"] == "error":
            message = result["message"]
            if not message.strip() or "\n" in message.strip():
                problems.append(what + f"{result['type']} message is not one line: {message!r}")
            if not any(name in message for name in case["names"]):
                problems.append(what + f"{result['type']} message names none of {case['names']}: {message}")
        if case["unchanged"] and result["outcome"] != "valid":
            problems.append(what + f"the unchanged file does not read: {result}")
        if case["empty"] and result["outcome"] != "error":
            problems.append(what + f"an empty file is read as valid: {result}")
        if (case["empty_optional"] and case["kind"] in ("image", "folder") and result["outcome"] == "valid"
                and case["member"] not in result["summary"]):  # the stack's messages must say what was done
            problems.append(what + f"an empty {case['member']} is passed over in silence: {result}")
    return problems


KINDS = ["tif-l5-lzw", "tif-s2-11band", "tif-l8-tiled", "landsat-mtl", "jp2-s2-band", "jp2-s2-scl-mask",
         "band-folder", "shapefile", "geopackage", "geojson", "points-csv", "reference-geojson", "reference-csv",
         "legend-csv", "legend-qml", "legend-iota2", "recipe"]


@pytest.mark.parametrize("kind", KINDS)
def test_corrupted_files_give_a_result_or_one_clear_error(kind, generated, tmp_path):
    source = generated[kind]
    cases = build_cases(source, tmp_path)
    results = run_worker(cases, tmp_path)
    counts = {o: sum(r["outcome"] == o for r in results[1:]) for o in ("valid", "error", "bug")}
    print(f"\n{kind}: {len(cases) - 1} corrupted variant(s): {counts}")
    assert not problems_of(cases, results), "\n".join(problems_of(cases, results))


def test_the_corruptions_are_seeded_and_distinct():
    """The same file gives the same variants on every run, all different from the file and from each other."""
    data = (DATA / "s2_barbellino/S2A2A_20190723_022_Barbellino_SCL_10.tif").read_bytes()
    first, again = variants(data), variants(data)
    assert first == again
    corrupted = [v for k, v in first.items() if k != "unchanged"]
    assert len(corrupted) == 30 and data not in corrupted and len(set(corrupted)) == 30
    header_flips = [v for k, v in first.items() if "first KB" in k]
    assert all(v[1024:] == data[1024:] for v in header_flips)
    seven = [v for k, v in first.items() if "7-bit" in k]
    assert all(max(a ^ b for a, b in zip(v, data)) < 128 for v in seven)


# --- the command line ---------------------------------------------------------------------------------------


def run_classify(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landclass_ui.cli", "classify", *map(str, args), "-q"],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_line_exit_2(result: subprocess.CompletedProcess, out: Path, *names: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("landclass: error: "), result.stderr
    assert any(name in lines[0] for name in names), lines[0]
    assert not any(out.parent.glob(out.stem + "*")), list(out.parent.iterdir())  # no map, no temporary file
    return lines[0]


def test_classify_on_a_truncated_band_file(tmp_path):
    """A band file cut at 90 %: its header opens, its last tiles are gone; found while reading pixels."""
    bands = []
    for path in L8_BANDS:
        shutil.copyfile(path, tmp_path / path.name)
        bands.append(tmp_path / path.name)
    data = L8_BANDS[1].read_bytes()
    bands[1].write_bytes(data[: len(data) * 9 // 10])
    for ext in ("shp", "shx", "dbf", "prj", "cpg"):
        shutil.copyfile(L8 / f"training_points.{ext}", tmp_path / f"training_points.{ext}")
    out = tmp_path / "out" / "map.tif"
    out.parent.mkdir()
    result = run_classify(*bands, "-t", tmp_path / "training_points.shp", "--class-field", "MC_name", "-o", out,
                          cwd=tmp_path)
    assert_one_line_exit_2(result, out, bands[1].name)


def test_classify_with_a_bit_flipped_training_file(tmp_path):
    """The first bit-flipped copy of the points' .dbf (in the seeded order) that read_training refuses."""
    from landclass_ui.errors import LandclassError
    from landclass_ui.training import read_training

    for ext in ("shp", "shx", "dbf", "prj", "cpg"):
        shutil.copyfile(L8 / f"training_points.{ext}", tmp_path / f"training_points.{ext}")
    training = tmp_path / "training_points.shp"
    dbf = tmp_path / "training_points.dbf"
    for data in bit_flips((L8 / "training_points.dbf").read_bytes()).values():
        dbf.write_bytes(data)
        try:
            read_training(training, "MC_name")
        except LandclassError:
            break
    else:
        pytest.fail("no bit-flipped copy of training_points.dbf is refused")
    out = tmp_path / "out" / "map.tif"
    out.parent.mkdir()
    result = run_classify(*L8_BANDS, "-t", training, "--class-field", "MC_name", "-o", out, cwd=tmp_path)
    assert_one_line_exit_2(result, out, training.name)


def test_classify_with_a_corrupted_reference_csv(tmp_path):
    """A reference CSV whose first class name lost a letter to a flipped bit: the unknown class is named with
    the reference file, not blamed on the training data."""
    csv = _points_csv(tmp_path)
    lines = csv.read_text().splitlines()
    x, y, name = lines[1].split(",")
    broken = bytearray(name.encode())
    broken[1] ^= 0x04  # 'u' -> 'q': "Bqilt Up"
    lines[1] = f"{x},{y},{broken.decode()}"
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out" / "map.tif"
    out.parent.mkdir()
    result = run_classify(*L8_BANDS, "-t", L8 / "training_points.shp", "--class-field", "MC_name",
                          "--reference", csv, "-o", out, cwd=tmp_path)
    line = assert_one_line_exit_2(result, out, csv.name)
    assert broken.decode() in line


if __name__ == "__main__":
    worker(sys.argv[1])

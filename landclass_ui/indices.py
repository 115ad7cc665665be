"""Derived bands: pairwise band operations and spectral indices, computed per window from the image bands.

A derived band is carried in an :class:`~landclass_ui.imagery.ImageStack` like any band, as a
:class:`DerivedBand` (a :class:`~landclass_ui.imagery.ComputedBand`): a formula and the names of the stack
bands it takes, e.g. ``DerivedBand(ndvi, ("B8A", "B04"))``. :meth:`ImageStack.reader` reads the file bands
first, then computes the derived ones from them. NaN in any input gives NaN; a division by zero (and any
other non-finite result) gives NaN.

Inputs are the values the stack reads: reflectance (0-1) for the products whose scale is known
(:mod:`landclass_ui.sensors`), stored values otherwise. Indices whose formula assumes reflectance (NDFI, EVI,
EVI2, SAVI, IBI, kNDVI, EBBI, tasseled cap: :attr:`Index.reflectance`) are refused on bands of unknown scale,
with a message saying how to state it; normalized differences and ratios do not depend on the scale.

Naming (one rule everywhere): pairwise bands are ``nd_<b1>_<b2>``, ``ratio_<b1>_<b2>``, ``diff_<b1>_<b2>`` with
the stack's band names, for every pair ``i < j`` in the order of the chosen bands (3 bands give 3 pairs per
operation); ``nd_B04_B8A = (B04 - B8A) / (B04 + B8A)``. Indices are named by their lower-case short name
(``ndvi``, ``mndwi``, ``tc_brightness``...).

Band roles (blue, green, red, rededge1-3, nir, swir1, swir2, thermal) come from the sensor table
(:mod:`landclass_ui.sensors`) or are given by hand.

Formulas follow SEPAL's list (see each function's docstring for the source; most are also in Awesome Spectral
Indices, Montero et al. 2023, https://doi.org/10.1038/s41597-023-02096-0).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from .errors import ImageError
from .imagery import BandSource, Grid
from .sensors import KELVIN, REFLECTANCE, SENSOR_ALIASES, resolve_roles

__all__ = [
    "OPERATIONS", "INDICES", "TASSELED_CAP", "Index", "DerivedBand", "available_indices", "index_names",
    "pairwise_specs", "derived_sources", "add_derived", "nd", "ndfi_fractions",
]


# ---------------------------------------------------------------------------------------------------------
# Formulas. Inputs are reflectance (0-1) arrays; errors from division by zero are turned into NaN by compute().


def nd(a, b):
    """Normalized difference ``(a - b) / (a + b)``."""
    return (a - b) / (a + b)


def ratio(a, b):
    """Ratio ``a / b``."""
    return a / b


def difference(a, b):
    """Difference ``a - b``."""
    return a - b


#: Pairwise operations: recipe name -> (band name prefix, function).
OPERATIONS: dict[str, tuple[str, Callable]] = {"nd": ("nd", nd), "ratio": ("ratio", ratio),
                                               "difference": ("diff", difference)}

#: Soil brightness correction of SAVI (and of SAVI inside IBI), Huete (1988).
SAVI_L = 0.5
#: kNDVI length scale sigma in reflectance units, as in SEPAL. Camps-Valls et al. (2021) recommend
#: sigma = 0.5 (nir + red), i.e. ~0.2 over vegetation, which reduces kNDVI to tanh(NDVI^2).
KNDVI_SIGMA = 0.2


def ndvi(nir, red):
    """NDVI = (nir - red) / (nir + red). Rouse, Haas, Schell & Deering (1974), "Monitoring vegetation systems in
    the Great Plains with ERTS", NASA SP-351."""
    return nd(nir, red)


def ndmi(nir, swir1):
    """NDMI = (nir - swir1) / (nir + swir1). Wilson & Sader (2002), Remote Sens. Environ. 80: 385-396
    (the same form as Gao's 1996 NDWI)."""
    return nd(nir, swir1)


def ndwi(green, nir):
    """NDWI = (green - nir) / (green + nir). McFeeters (1996), Int. J. Remote Sens. 17(7): 1425-1432."""
    return nd(green, nir)


def mndwi(green, swir1):
    """MNDWI = (green - swir1) / (green + swir1). Xu (2006), Int. J. Remote Sens. 27(14): 3025-3033."""
    return nd(green, swir1)


def evi(nir, red, blue):
    """EVI = 2.5 (nir - red) / (nir + 6 red - 7.5 blue + 1). Huete et al. (2002), Remote Sens. Environ. 83:
    195-213."""
    return 2.5 * (nir - red) / (nir + 6.0 * red - 7.5 * blue + 1.0)


def evi2(nir, red):
    """EVI2 = 2.5 (nir - red) / (nir + 2.4 red + 1). Jiang, Huete, Didan & Miura (2008), Remote Sens. Environ.
    112: 3833-3845."""
    return 2.5 * (nir - red) / (nir + 2.4 * red + 1.0)


def savi(nir, red):
    """SAVI = (1 + L) (nir - red) / (nir + red + L), L = 0.5. Huete (1988), Remote Sens. Environ. 25: 295-309."""
    return (1.0 + SAVI_L) * (nir - red) / (nir + red + SAVI_L)


def nbr(nir, swir2):
    """NBR = (nir - swir2) / (nir + swir2). Key & Benson (2006), "Landscape Assessment", USDA Forest Service
    RMRS-GTR-164-CD."""
    return nd(nir, swir2)


def mvi(nir, green, swir1):
    """MVI as SEPAL computes it: 0.1 (nir - green) / |swir1 - green|, clamped to [-1, 1]. The mangrove
    vegetation index of Baloloy et al. (2020), ISPRS J. Photogramm. 166: 95-117, is (nir - green) /
    (swir1 - green); SEPAL scales it by 0.1 and clamps it so that it shares the range of the other indices."""
    return np.clip(0.1 * (nir - green) / np.abs(swir1 - green), -1.0, 1.0)


def ui(swir2, nir):
    """UI (urban index) = (swir2 - nir) / (swir2 + nir). Kawamura, Jayamana & Tsujiko (1996), Int. Arch.
    Photogramm. Remote Sens. XXXI(B7): 321-326."""
    return nd(swir2, nir)


def ndbi(swir1, nir):
    """NDBI = (swir1 - nir) / (swir1 + nir). Zha, Gao & Ni (2003), Int. J. Remote Sens. 24(3): 583-594."""
    return nd(swir1, nir)


def ibi(swir1, nir, red, green):
    """IBI = (NDBI - (SAVI + MNDWI) / 2) / (NDBI + (SAVI + MNDWI) / 2), SAVI with L = 0.5. Xu (2008), Int. J.
    Remote Sens. 29(14): 4269-4276."""
    veg_water = (savi(nir, red) + mndwi(green, swir1)) / 2.0
    built = ndbi(swir1, nir)
    return (built - veg_water) / (built + veg_water)


def nbi(red, swir1, nir):
    """NBI (new built-up index) = red * swir1 / nir. Jieli et al. (2010), as listed by SEPAL."""
    return red * swir1 / nir


def ebbi(swir1, nir, thermal):
    """EBBI = (swir1 - nir) / (10 sqrt(swir1 + T / 1000)), swir1 and nir reflectance (0-1), T the thermal band
    in Kelvin. As-syakur et al. (2012), Remote Sens. 4: 2957-2970, with the thermal band scaled as SEPAL feeds
    it: Kelvin / 1000 (its Landsat 8 ``ST_B10`` scale 3.41802e-06, offset 0.149, i.e. the Collection 2 scale
    0.00341802 K and offset 149 K divided by 1000)."""
    return (swir1 - nir) / (10.0 * np.sqrt(swir1 + thermal / 1000.0))


def bui(red, swir1, swir2):
    """BUI as SEPAL defines it: ND(red, swir1) + ND(swir2, swir1). (He et al. 2010 call NDBI - NDVI a
    built-up index too; this is SEPAL's form.)"""
    return nd(red, swir1) + nd(swir2, swir1)


def kndvi(nir, red):
    """kNDVI = tanh(((nir - red) / (2 sigma))^2), sigma = :data:`KNDVI_SIGMA` (0.2). Camps-Valls et al. (2021),
    Science Advances 7: eabc7447 (the RBF-kernel NDVI)."""
    return np.tanh(((nir - red) / (2.0 * KNDVI_SIGMA)) ** 2)


# --- NDFI (Souza et al. 2005) ----------------------------------------------------------------------------

#: Endmember reflectance (blue, green, red, nir, swir1, swir2) for the NDFI unmixing, as SEPAL uses them for
#: Landsat and Sentinel-2 alike (the same set as the CODED degradation-mapping code, Bullock, Woodcock &
#: Olofsson 2020, Remote Sens. Environ. 238: 110968). NDFI itself is Souza, Roberts & Cochrane (2005), Remote
#: Sens. Environ. 98: 329-343; these values are SEPAL's/CODED's, not the ones of Souza's or Imazon's papers.
NDFI_ENDMEMBERS = {
    "gv": (0.05, 0.09, 0.04, 0.61, 0.30, 0.10),
    "shade": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "npv": (0.14, 0.17, 0.22, 0.30, 0.55, 0.30),
    "soil": (0.20, 0.30, 0.34, 0.58, 0.60, 0.58),
    "cloud": (0.90, 0.96, 0.80, 0.78, 0.72, 0.65),
}


def _fcls_solvers():
    """For every non-empty subset of endmembers: the affine map pixel -> fractions of the least-squares
    unmixing restricted to that subset with the fractions summing to one (KKT system, closed form)."""
    E = np.array(list(NDFI_ENDMEMBERS.values()), dtype=np.float64).T  # (6 bands, 5 endmembers)
    k = E.shape[1]
    solvers = []
    for size in range(1, k + 1):
        for subset in itertools.combinations(range(k), size):
            Es = E[:, subset]
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = Es.T @ Es
            kkt[:size, size] = 1.0
            kkt[size, :size] = 1.0
            try:
                inv = np.linalg.inv(kkt)
            except np.linalg.LinAlgError:
                continue
            A = inv[:size, :size] @ Es.T  # fractions = A @ pixel + b
            b = inv[:size, size]
            solvers.append((subset, A, b, Es))
    return E, solvers


_FCLS = None


def ndfi_fractions(pixels: np.ndarray) -> np.ndarray:
    """Fully constrained (non-negative, sum-to-one) least-squares unmixing into :data:`NDFI_ENDMEMBERS`.

    ``pixels`` is ``(n, 6)`` reflectance (blue..swir2); returns ``(n, 5)`` fractions (gv, shade, npv, soil,
    cloud). Exact: every subset of endmembers is solved in closed form with the sum-to-one constraint, and the
    feasible (all fractions >= 0) solution with the smallest residual is kept, which is the constrained optimum.
    """
    global _FCLS
    if _FCLS is None:
        _FCLS = _fcls_solvers()
    E, solvers = _FCLS
    p = np.asarray(pixels, dtype=np.float64)
    best = np.full(len(p), np.inf)
    out = np.zeros((len(p), E.shape[1]))
    for subset, A, b, Es in solvers:
        f = p @ A.T + b
        feasible = (f >= -1e-12).all(axis=1)
        resid = ((f @ Es.T - p) ** 2).sum(axis=1)
        take = feasible & (resid < best - 1e-15)
        if take.any():
            best[take] = resid[take]
            out[take] = 0.0
            out[np.ix_(take, subset)] = np.clip(f[take], 0.0, None)
    return out


def ndfi(blue, green, red, nir, swir1, swir2):
    """NDFI = (GVs - (NPV + soil)) / (GVs + NPV + soil), GVs = GV / (1 - shade), from a constrained unmixing into
    green vegetation, shade, non-photosynthetic vegetation, soil and cloud (:data:`NDFI_ENDMEMBERS`). Souza,
    Roberts & Cochrane (2005), Remote Sens. Environ. 98: 329-343. Range -1..1 (Imazon maps it to 0-200)."""
    shape = np.shape(blue)
    pixels = np.stack([np.ravel(np.asarray(x, np.float64)) for x in (blue, green, red, nir, swir1, swir2)], 1)
    valid = np.isfinite(pixels).all(axis=1)
    result = np.full(len(pixels), np.nan)
    if valid.any():
        fr = ndfi_fractions(pixels[valid])
        gv, shade, npv, soil = fr[:, 0], fr[:, 1], fr[:, 2], fr[:, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            gvs = gv / (1.0 - shade)
            result[valid] = (gvs - (npv + soil)) / (gvs + npv + soil)
    return result.reshape(shape)


# --- Tasseled cap -----------------------------------------------------------------------------------------

#: Tasseled-cap coefficients (blue, green, red, nir, swir1, swir2) per sensor; only published sets we are sure
#: of, each for the product level it was derived on:
#:
#: * Landsat 8/9 OLI: Baig, Zhang, Shuai & Tong (2014), Remote Sens. Lett. 5(5): 423-431, at-satellite (TOA)
#:   reflectance.
#: * Landsat 7 ETM+: Huang, Wylie, Yang, Homer & Zylstra (2002), Int. J. Remote Sens. 23(8): 1741-1748,
#:   at-satellite (TOA) reflectance.
#: * Landsat 4/5 TM: Crist (1985), Remote Sens. Environ. 17: 301-306, reflectance factors (surface).
#:
#: Applied to surface reflectance (Collection 2 Level-2) the OLI and ETM+ components are close to, not equal
#: to, the published ones. No Sentinel-2 set is offered.
TASSELED_CAP: dict[str, dict[str, tuple[float, ...]]] = {
    "landsat-8-9": {
        "brightness": (0.3029, 0.2786, 0.4733, 0.5599, 0.5080, 0.1872),
        "greenness": (-0.2941, -0.2430, -0.5424, 0.7276, 0.0713, -0.1608),
        "wetness": (0.1511, 0.1973, 0.3283, 0.3407, -0.7117, -0.4559),
    },
    "landsat-7": {
        "brightness": (0.3561, 0.3972, 0.3904, 0.6966, 0.2286, 0.1596),
        "greenness": (-0.3344, -0.3544, -0.4556, 0.6966, -0.0242, -0.2630),
        "wetness": (0.2626, 0.2141, 0.0926, 0.0656, -0.7629, -0.5388),
    },
    "landsat-5": {
        "brightness": (0.2043, 0.4158, 0.5524, 0.5741, 0.3124, 0.2303),
        "greenness": (-0.1603, -0.2819, -0.4934, 0.7940, -0.0002, -0.1446),
        "wetness": (0.0315, 0.2021, 0.3102, 0.1594, -0.6806, -0.6109),
    },
}
_TC_ROLES = ("blue", "green", "red", "nir", "swir1", "swir2")


@dataclass(frozen=True)
class Index:
    """A spectral index: short name, title, the roles it needs (in the function's argument order), formula,
    and whether the formula assumes reflectance 0-1 (``reflectance``; the ``thermal`` role then in Kelvin)."""

    name: str
    title: str
    roles: tuple[str, ...]
    func: Callable
    sensor: str | None = None  # tasseled cap: only for this sensor's coefficients
    reflectance: bool = False


def _tc(sensor, component):
    coef = TASSELED_CAP[sensor][component]

    def f(blue, green, red, nir, swir1, swir2):
        return sum(c * x for c, x in zip(coef, (blue, green, red, nir, swir1, swir2)))
    f.__doc__ = f"Tasseled-cap {component} with the {sensor} coefficients of :data:`TASSELED_CAP`."
    return f


#: The 17 indices SEPAL offers, by recipe name.
INDICES: dict[str, Index] = {
    i.name: i for i in [
        Index("ndvi", "NDVI: vegetation", ("nir", "red"), ndvi),
        Index("ndmi", "NDMI: moisture", ("nir", "swir1"), ndmi),
        Index("ndwi", "NDWI (McFeeters): water", ("green", "nir"), ndwi),
        Index("mndwi", "MNDWI: water", ("green", "swir1"), mndwi),
        Index("ndfi", "NDFI: forest degradation (unmixing)", ("blue", "green", "red", "nir", "swir1", "swir2"),
              ndfi, reflectance=True),
        Index("evi", "EVI: enhanced vegetation", ("nir", "red", "blue"), evi, reflectance=True),
        Index("evi2", "EVI2: two-band EVI", ("nir", "red"), evi2, reflectance=True),
        Index("savi", "SAVI: soil-adjusted vegetation", ("nir", "red"), savi, reflectance=True),
        Index("nbr", "NBR: burn ratio", ("nir", "swir2"), nbr),
        Index("mvi", "MVI: mangrove vegetation", ("nir", "green", "swir1"), mvi),
        Index("ui", "UI: urban", ("swir2", "nir"), ui),
        Index("ndbi", "NDBI: built-up", ("swir1", "nir"), ndbi),
        Index("ibi", "IBI: index-based built-up", ("swir1", "nir", "red", "green"), ibi, reflectance=True),
        Index("nbi", "NBI: new built-up", ("red", "swir1", "nir"), nbi),
        Index("ebbi", "EBBI: built-up and bareness", ("swir1", "nir", "thermal"), ebbi, reflectance=True),
        Index("bui", "BUI: built-up", ("red", "swir1", "swir2"), bui),
        Index("kndvi", "kNDVI: kernel NDVI", ("nir", "red"), kndvi, reflectance=True),
    ]
}
#: Tasseled-cap components, one :class:`Index` per sensor of :data:`TASSELED_CAP`.
TC_COMPONENTS = ("brightness", "greenness", "wetness")
_ALL_INDICES = [
    *INDICES.values(),
    *[Index(f"tc_{c}", f"Tasseled cap {c} ({s})", _TC_ROLES, _tc(s, c), s, reflectance=True)
      for s in TASSELED_CAP for c in TC_COMPONENTS],
]


def index_names() -> list[str]:
    """Every index name (the tasseled-cap names once)."""
    return list(dict.fromkeys(i.name for i in _ALL_INDICES))


def _find_index(name: str, sensor: str | None) -> Index | None:
    sensor = SENSOR_ALIASES.get(sensor, sensor)
    for i in _ALL_INDICES:
        if i.name == name and (i.sensor is None or i.sensor == sensor):
            return i
    return None


def available_indices(roles: Mapping[str, str], sensor: str | None = None) -> list[str]:
    """Names of the indices whose roles are all filled, in :data:`INDICES` order (tasseled cap only when
    ``sensor`` has published coefficients)."""
    out = []
    sensor = SENSOR_ALIASES.get(sensor, sensor)
    for i in _ALL_INDICES:
        if (i.sensor is None or i.sensor == sensor) and all(roles.get(r) for r in i.roles) and i.name not in out:
            out.append(i.name)
    return out


# ---------------------------------------------------------------------------------------------------------
# Derived bands of a stack


def pairwise_specs(bands: Sequence[str], operations: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """``(name, operation, b1, b2)`` for every operation and every pair ``i < j`` of ``bands`` (in order).

    Raises
    ------
    ImageError
        An unknown operation.
    """
    out = []
    for op in operations:
        if op not in OPERATIONS:
            raise ImageError(f"unknown band operation {op!r}; available: {', '.join(OPERATIONS)}")
        prefix = OPERATIONS[op][0]
        for b1, b2 in itertools.combinations(bands, 2):
            out.append((f"{prefix}_{b1}_{b2}", op, b1, b2))
    return out


@dataclass(frozen=True)
class DerivedBand:
    """A band computed from other bands of the stack (a :class:`~landclass_ui.imagery.ComputedBand`):
    ``func(*inputs)`` on the float32 input bands, non-finite results (division by zero, overflow) as NaN,
    returned as float32 ``(height, width)``.

    The formulas run in float32, the stack's type (NumPy keeps Python constants such as ``2.5`` at the arrays'
    precision): a result differs from one computed in float64 and then rounded to float32 by at most a few units
    in the last place (about 1e-7 relative), below what a forest's splits resolve (scikit-learn's trees compare
    float32 features). Computing in float64 took a 512 x 512 window's NDVI and NDWI 0.6 ms longer, 3 % of the
    window's classification (issue 11). Formulas that need more precision convert themselves (:func:`ndfi`'s
    unmixing runs in float64)."""

    func: Callable
    inputs: tuple[str, ...]

    def compute(self, grid: Grid, window, out_shape, inputs) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            values = np.asarray(self.func(*(np.asarray(x, np.float32) for x in inputs)), dtype=np.float32)
        infinite = np.isinf(values)  # NaN in, NaN out; infinities come from a division by zero or an overflow
        if infinite.any():  # a new array: ``values`` may be one of the inputs
            values = np.where(infinite, np.float32(np.nan), values)
        return values


def _check_units(index: Index, bands: Sequence[str], units: Mapping[str, str]) -> None:
    """Refuse an index that assumes reflectance on bands whose scale is unknown (or a thermal band not in K)."""
    if not index.reflectance:
        return
    wrong = [b for r, b in zip(index.roles, bands) if units.get(b) != (KELVIN if r == "thermal" else REFLECTANCE)]
    if wrong:
        simple = ", ".join(i.name for i in INDICES.values() if not i.reflectance)
        thermal = " and a thermal band in Kelvin" if "thermal" in index.roles else ""
        raise ImageError(
            f"{index.name} assumes surface reflectance (0-1){thermal}, but band(s) {', '.join(wrong)} are stored "
            "values of unknown scale; state the image's reflectance scale (IMG: Set reflectance scale; command "
            "line: --scale; recipe: images[].scale), e.g. 0.0001 for reflectance x 10000, 1 for reflectance, or "
            f"use an index that does not depend on it ({simple})")


def derived_sources(band_names: Sequence[str], *, operations: Sequence[str] = (), pair_bands: Sequence[str] = (),
                    indices: Sequence[str] = (), sensor: str | None = None,
                    roles: Mapping[str, str] | None = None,
                    units: Mapping[str, str] | None = None) -> list[BandSource]:
    """The :class:`~landclass_ui.imagery.BandSource` of each derived band for a stack with ``band_names``.

    ``pair_bands`` empty means every band. ``units`` (band name -> ``"reflectance"``, ``"kelvin"`` or ``""``,
    as :attr:`ImageStack.units`) decides whether indices that assume reflectance can be computed.

    Raises
    ------
    ImageError
        An unknown operation or index, a band that is not in the stack, fewer than two bands for a pairwise
        operation, an index whose bands are not there (the message says which roles are missing and how to
        give them), or an index that assumes reflectance on bands of unknown scale.
    """
    names = list(band_names)
    units = dict(units or {})
    sources = []
    if operations:
        chosen = list(pair_bands) or names
        missing = [b for b in chosen if b not in names]
        if missing:
            raise ImageError(f"band(s) {', '.join(missing)} chosen for band operations are not in the image; "
                             f"the bands are {', '.join(names)}")
        if len(chosen) < 2:
            raise ImageError("band operations need at least two bands; select more bands")
        for name, op, b1, b2 in pairwise_specs(chosen, operations):
            sources.append(BandSource(path="", index=0, name=name,
                                      computed=DerivedBand(OPERATIONS[op][1], (b1, b2))))
    if indices:
        resolved = resolve_roles(names, sensor, roles)
        for name in indices:
            index = _find_index(name, sensor)
            if index is None:
                known = ", ".join(index_names())
                if name.startswith("tc_") and name in index_names():
                    raise ImageError(f"tasseled cap needs a sensor with published coefficients "
                                     f"({', '.join(TASSELED_CAP)}); the sensor is {sensor or 'not set'}")
                raise ImageError(f"unknown index {name!r}; available: {known}")
            lacking = [r for r in index.roles if not resolved.get(r)]
            if lacking:
                raise ImageError(
                    f"{name} needs the {', '.join(lacking)} band(s), which are not among the image bands "
                    f"({', '.join(names)}); choose the sensor or give the band roles")
            bands = tuple(resolved[r] for r in index.roles)
            _check_units(index, bands, units)
            sources.append(BandSource(path="", index=0, name=name, computed=DerivedBand(index.func, bands)))
    taken = set(names)
    for s in sources:
        if s.name in taken:
            raise ImageError(f"derived band {s.name} has the name of another band; rename or drop one of them")
        taken.add(s.name)
    return sources


def add_derived(stack, derived):
    """``stack`` (an :class:`~landclass_ui.imagery.ImageStack`) with the derived bands of ``derived``
    appended (a recipe ``DerivedRef`` or a dict with ``pairwise: {operations, bands}``, ``indices``,
    ``sensor``, ``roles``), computed from its file bands. For a stack of several dates (``stack.series``), each
    index is computed for each date from that date's bands (``20230810_ndvi``; roles and sensor name the bands
    without their date). Raises what :func:`derived_sources` raises."""
    if not isinstance(derived, Mapping):
        from dataclasses import asdict

        derived = asdict(derived)
    pair = derived.get("pairwise") or {}
    series = getattr(stack, "series", None)
    sources = derived_sources(
        stack.image_bands,
        operations=pair.get("operations") or (), pair_bands=pair.get("bands") or (),
        indices=() if series else derived.get("indices") or (), sensor=derived.get("sensor"),
        roles=derived.get("roles") or {}, units=stack.units,
    )
    if series and derived.get("indices"):  # indices per date, from that date's bands: 20230810_ndvi
        from .timeseries import date_band_name, split_date_band_name

        units = stack.units
        for date, names in zip(series.dates, series.bands):
            plain = {split_date_band_name(n)[1]: n for n in names}
            for src in derived_sources(list(plain), indices=derived["indices"], sensor=derived.get("sensor"),
                                       roles=derived.get("roles") or {},
                                       units={b: units.get(n, "") for b, n in plain.items()}):
                computed = DerivedBand(src.computed.func, tuple(plain[b] for b in src.computed.inputs))
                sources.append(replace(src, name=date_band_name(date, src.name), computed=computed))
    return replace(stack, bands=[*stack.bands, *sources]) if sources else stack

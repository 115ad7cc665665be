"""The map: image composite, live classification and probability layers, training points, training mode."""
from __future__ import annotations

import math
from typing import Callable

import ipywidgets as W
from ipyleaflet import CircleMarker, GeoJSON, LayerGroup, LayersControl, Map, ScaleControl, WidgetControl

__all__ = ["MapView", "screen_size", "metres_per_pixel", "fit_zoom"]

#: Map size in screen pixels assumed before the browser has reported the map's extent.
DEFAULT_MAP_PX = (800, 640)

#: A click closer than this (screen pixels) to a training point selects the point instead of adding one.
PICK_RADIUS_PX = 9


def metres_per_pixel(lat: float, zoom: float) -> float:
    """Ground size of one screen pixel in Web Mercator at latitude ``lat`` (degrees) and ``zoom``."""
    return 156543.03392 * math.cos(math.radians(lat)) / (2 ** zoom)


def _mercator_px(lat: float, lon: float, zoom: float) -> tuple[float, float]:
    scale = 256 * 2 ** zoom
    x = (lon + 180.0) / 360.0 * scale
    s = math.sin(math.radians(max(min(lat, 85.0511), -85.0511)))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * scale
    return x, y


def screen_size(bounds, zoom: float) -> tuple[int, int]:
    """Width and height in screen pixels of map ``bounds`` (``((south, west), (north, east))``) at ``zoom``."""
    (south, west), (north, east) = bounds
    x0, y0 = _mercator_px(north, west, zoom)
    x1, y1 = _mercator_px(south, east, zoom)
    return max(1, int(round(abs(x1 - x0)))), max(1, int(round(abs(y1 - y0))))


def fit_zoom(bounds, size_px: tuple[int, int] = DEFAULT_MAP_PX, *, max_zoom: int = 18) -> int:
    """The largest Web Mercator zoom at which ``bounds`` (``((south, west), (north, east))``, degrees) fits a
    map of ``size_px`` ``(width, height)`` screen pixels (Leaflet's ``fitBounds`` without its animation, so
    that it can be set as a plain trait from any thread).

    >>> fit_zoom(((43.2, 0.55), (44.2, 1.95)), (800, 640))
    9
    """
    (south, west), (north, east) = bounds
    x0, y0 = _mercator_px(north, west, 0)
    x1, y1 = _mercator_px(south, east, 0)
    w0, h0 = max(abs(x1 - x0), 1e-9), max(abs(y1 - y0), 1e-9)
    zoom = math.floor(math.log2(min(size_px[0] / w0, size_px[1] / h0)))
    return int(min(max(zoom, 0), max_zoom))


class MapView:
    """The ipyleaflet map with the app's layers.

    ``on_click(lat, lon, nearest_index)`` is called for clicks in training mode; ``nearest_index`` is the index
    of the training point within :data:`PICK_RADIUS_PX` of the click, or None.
    """

    def __init__(self, image_layer, class_layer, view_layer, prob_layer, *, center, bounds,
                 on_click: Callable[[float, float, int | None], None], uncertain_layer=None):
        self.image_layer = image_layer
        self.class_layer = class_layer
        self.view_layer = view_layer
        self.prob_layer = prob_layer
        self.uncertain_layer = uncertain_layer  # least-confident pixels (magenta), hidden by default
        # each kind of layer in its own pane: a fixed stacking order, and a CSS class to find it by
        # (leaflet-landclass-<kind>-pane)
        for layer, pane in ((image_layer, "image"), (class_layer, "class"), (view_layer, "class"),
                            (prob_layer, "prob")):
            layer.pane = f"landclass-{pane}"
        self.target = None
        self.points_layer = LayerGroup(name="Training points")
        self.polygons_layer = LayerGroup(name="Training polygons")
        self.classification = LayerGroup(layers=[class_layer, view_layer], name="Classification")
        prob_layer.visible = False
        extra = []
        if uncertain_layer is not None:
            uncertain_layer.pane = "landclass-uncertain"
            uncertain_layer.visible = False
            uncertain_layer.opacity = 0.6
            extra = [uncertain_layer]
        self.map = Map(
            panes={"landclass-image": {"zIndex": 210}, "landclass-class": {"zIndex": 220},
                   "landclass-prob": {"zIndex": 230}, "landclass-uncertain": {"zIndex": 235}},
            layers=[image_layer, self.classification, prob_layer, *extra, self.polygons_layer, self.points_layer],
            center=center,
            zoom=9,
            scroll_wheel_zoom=True,
            # the page's height, less the header and the intro (voila and JupyterLab alike), never tiny
            layout=W.Layout(height="calc(100vh - 230px)", min_height="480px", width="100%"),
        )
        self.map.add(ScaleControl(position="bottomleft"))
        self.map.add(LayersControl(position="topright"))
        self.training = W.ToggleButton(value=False, description="Training mode", icon="map-marker",
                                       tooltip="When on, a click adds a point of the selected class; "
                                               "a click on a point selects it")
        self.training.add_class("landclass-training-toggle")
        self.opacity = W.FloatSlider(value=0.7, min=0, max=1, step=0.05, description="Opacity",
                                     readout=False, layout=W.Layout(width="200px"))
        self.opacity.observe(self._on_opacity, "value")
        self._on_opacity()
        self.map.add(WidgetControl(widget=W.VBox([self.training, self.opacity]), position="topleft"))
        self.legend = W.HTML()
        self.legend.add_class("landclass-map-legend")
        self.map.add(WidgetControl(widget=self.legend, position="bottomright"))
        self.fit(bounds)
        self._points: list[dict] = []
        self._colors: dict[int, str] = {}
        self.selected: int | None = None
        self._on_click = on_click
        self.map.on_interaction(self._interaction)

    def show_legend(self, entries: list[tuple[str, str]]) -> None:
        """The legend on the map: ``(class name, colour "#rrggbb")`` in legend order; empty hides it."""
        import html

        rows = "".join(
            f"<div><span style='display:inline-block;width:12px;height:12px;margin-right:6px;"
            f"background:{html.escape(color)};border:1px solid #555'></span>{html.escape(name)}</div>"
            for name, color in entries)
        self.legend.value = (f"<div style='background:rgba(255,255,255,0.85);padding:4px 8px;font-size:12px;"
                             f"line-height:16px'>{rows}</div>") if entries else ""

    def _on_opacity(self, *_):
        for layer in (self.class_layer, self.view_layer, self.prob_layer):
            layer.opacity = self.opacity.value

    #: The raster layers, by attribute.
    RASTER_LAYERS = ("image_layer", "class_layer", "view_layer", "prob_layer", "uncertain_layer")

    def replace_layers(self, make: Callable[[object], object]) -> None:
        """Swap every raster layer for ``make(old_layer)`` (a new image: new layers bounded to it, whose tiles
        all start fresh), keeping each layer's pane, opacity, visibility and place on the map."""
        for attr in self.RASTER_LAYERS:
            old = getattr(self, attr)
            if old is None:
                continue
            new = make(old)
            new.pane, new.opacity, new.visible = old.pane, old.opacity, old.visible
            if old in self.classification.layers:
                self.classification.layers = tuple(new if x is old else x for x in self.classification.layers)
            else:
                self.map.substitute(old, new)
            setattr(self, attr, new)

    def fit(self, bounds) -> None:
        """Centre the map on ``bounds`` (``((south, west), (north, east))``, degrees) and zoom so that it fits.

        Sets the ``center`` and ``zoom`` traits only: unlike ``Map.fit_bounds`` this needs no event loop."""
        (south, west), (north, east) = bounds
        size = DEFAULT_MAP_PX
        if self.map.bounds:
            size = screen_size(self.map.bounds, self.map.zoom)
        center, zoom = ((south + north) / 2, (west + east) / 2), fit_zoom(bounds, size)
        self.target = (center, zoom)  # where the map was sent (the browser reports ``bounds`` once there)
        # two messages: sent as one (hold_sync), jupyter-leaflet 0.20 moved the map but loaded no tile there
        self.map.center = center
        self.map.zoom = zoom

    # --- training data -------------------------------------------------------------------------------

    def show_polygons(self, layers: list[tuple[str, str, dict]]) -> None:
        """Draw training files: ``(class name, colour, GeoJSON FeatureCollection in EPSG:4326)`` per class,
        polygons outlined in the class colour and lightly filled, points as small circles."""
        self.polygons_layer.layers = [
            GeoJSON(data=data, name=name, style={"color": color, "fillColor": color, "weight": 2, "opacity": 1.0,
                                                 "fillOpacity": 0.15},
                    point_style={"radius": 4, "fillOpacity": 0.8})  # points of a file as small circles
            for name, color, data in layers]

    # --- training points -------------------------------------------------------------------------------

    def show_points(self, points: list[dict], colors: dict[int, str], selected: int | None = None) -> None:
        """Draw training points (``{"x": lon, "y": lat, "class": value}``) as circle markers in their class
        colour; the selected one larger with a black outline."""
        self._points = list(points)
        self._colors = dict(colors)
        self.selected = selected
        markers = []
        for i, p in enumerate(points):
            color = colors.get(int(p["class"]), "#ff00ff")
            chosen = i == selected
            markers.append(CircleMarker(location=(p["y"], p["x"]), radius=9 if chosen else 6,
                                        color="#000000" if chosen else "#ffffff", weight=3 if chosen else 2,
                                        fill_color=color, fill_opacity=0.95, opacity=1.0))
        self.points_layer.layers = markers

    def nearest_point(self, lat: float, lon: float) -> int | None:
        """Index of the training point within :data:`PICK_RADIUS_PX` screen pixels of (lat, lon), or None."""
        if not self._points:
            return None
        zoom = self.map.zoom
        cx, cy = _mercator_px(lat, lon, zoom)
        best, best_d = None, float("inf")
        for i, p in enumerate(self._points):
            x, y = _mercator_px(p["y"], p["x"], zoom)
            d = math.hypot(x - cx, y - cy)
            if d < best_d:
                best, best_d = i, d
        return best if best_d <= PICK_RADIUS_PX else None

    def _interaction(self, **event):
        if event.get("type") != "click" or not self.training.value:
            return
        lat, lon = event["coordinates"]
        self._on_click(lat, lon, self.nearest_point(lat, lon))

    # --- view geometry ---------------------------------------------------------------------------------

    def view(self) -> tuple[tuple[float, float, float, float], tuple[int, int]] | None:
        """``((west, south, east, north), (width_px, height_px))`` of the visible extent, or None before the
        browser has reported it."""
        bounds = self.map.bounds
        if not bounds:
            return None
        (south, west), (north, east) = bounds
        return (west, south, east, north), screen_size(bounds, self.map.zoom)

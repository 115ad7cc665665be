"""The map: basemaps, image composite, live classification and probability overlays, training points and
polygons, training mode, legend and opacity."""
from __future__ import annotations

import math
from typing import Callable

import ipywidgets as W
from ipyleaflet import (
    CircleMarker,
    GeoJSON,
    ImageOverlay,
    LayerGroup,
    LayersControl,
    Map,
    ScaleControl,
    TileLayer,
    WidgetControl,
)

from ..overlay import EMPTY_PNG

__all__ = ["MapView", "screen_size", "metres_per_pixel", "fit_zoom", "basemaps", "MAP_CSS"]

#: The map's style: overlays of class rasters drawn pixel for pixel (no smoothing that would mix class colours);
#: the basemaps' attribution kept to the right half, clear of the scale bar.
MAP_CSS = ("<style>.leaflet-landclass-class-pane img, .leaflet-landclass-prob-pane img, "
           ".leaflet-landclass-uncertain-pane img {image-rendering: pixelated;} "
           ".landclass-app .leaflet-control-attribution {max-width: 55%;}</style>")


def basemaps() -> list[TileLayer]:
    """OpenStreetMap (shown) and Esri World Imagery (a choice in the layer control) as base layers.

    The browser fetches them from the public servers; offline, their tiles fail quietly and the map shows the
    image on a grey background. URLs and attributions from leaflet-providers (via ``xyzservices``).
    """
    import xyzservices.providers as xyz

    layers = []
    for provider, name, visible in ((xyz.OpenStreetMap.Mapnik, "OpenStreetMap", True),
                                    (xyz.Esri.WorldImagery, "Esri World Imagery", False)):
        layers.append(TileLayer(url=provider.build_url(), attribution=provider.html_attribution, name=name,
                                base=True, visible=visible, max_zoom=20,
                                max_native_zoom=int(provider.get("max_zoom") or 18)))
    return layers

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

    The image is the layer group ``image``: a preview picture (``preview_layer``, :meth:`show_preview`, shown
    as soon as the page is) under the image's tile layer (``image_layer``, None until :meth:`replace_image`
    gives one: :class:`landclass_ui.tiles.TileService`, full detail when zoomed in). The live results are
    image overlays (:mod:`landclass_ui.overlay`) shown with :meth:`show_overlay`: ``class_layer`` (the whole
    scene), ``view_layer`` (the visible extent, zoomed in), ``prob_layer`` and ``uncertain_layer`` (hidden by
    default). ``bounds`` (``((south, west), (north, east))``, degrees) is the image's extent.

    ``on_click(lat, lon, nearest_index)`` is called for clicks in training mode; ``nearest_index`` is the index
    of the training point within :data:`PICK_RADIUS_PX` of the click, or None.
    """

    #: The overlays, by the name :meth:`show_overlay` takes.
    OVERLAYS = {"class": "class_layer", "view": "view_layer", "prob": "prob_layer", "uncertain": "uncertain_layer"}

    def __init__(self, *, center, bounds, on_click: Callable[[float, float, int | None], None]):
        self.image_layer = None
        self.preview_layer = ImageOverlay(url=EMPTY_PNG, bounds=bounds, name="Image (preview)",
                                          pane="landclass-image")
        self.image = LayerGroup(layers=[self.preview_layer], name="Image")
        # each kind of layer in its own pane: a fixed stacking order, and a CSS class to find it by
        # (leaflet-landclass-<kind>-pane)
        self.class_layer = ImageOverlay(url=EMPTY_PNG, bounds=bounds, name="Classification (scene)",
                                        pane="landclass-class")
        self.view_layer = ImageOverlay(url=EMPTY_PNG, bounds=bounds, name="Classification (view)",
                                       pane="landclass-class")
        self.prob_layer = ImageOverlay(url=EMPTY_PNG, bounds=bounds, name="Probability", pane="landclass-prob",
                                       visible=False)
        # least-confident pixels (magenta), hidden by default
        self.uncertain_layer = ImageOverlay(url=EMPTY_PNG, bounds=bounds, name="Least confident (< 75 %)",
                                            pane="landclass-uncertain", visible=False, opacity=0.6)
        self.target = None
        self.points_layer = LayerGroup(name="Training points")
        self.polygons_layer = LayerGroup(name="Training polygons")
        self.classification = LayerGroup(layers=[self.class_layer, self.view_layer], name="Classification")
        self.map = Map(
            panes={"landclass-image": {"zIndex": 210}, "landclass-class": {"zIndex": 220},
                   "landclass-prob": {"zIndex": 230}, "landclass-uncertain": {"zIndex": 235}},
            layers=[*basemaps(), self.image, self.classification, self.prob_layer, self.uncertain_layer,
                    self.polygons_layer, self.points_layer],
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
        #: the class a click adds in training mode (the TRN class chooser's, as the kernel has it)
        self.click_class = W.HTML()
        self.click_class.add_class("landclass-click-class")
        #: what the pointer is over: a training polygon's class
        self.hover = W.HTML()
        self.hover.add_class("landclass-map-hover")
        self.map.add(WidgetControl(widget=W.VBox([self.training, self.click_class, self.opacity, self.hover]),
                                   position="topleft"))
        self.legend = W.HTML()
        self.legend.add_class("landclass-map-legend")
        self.map.add(WidgetControl(widget=self.legend, position="bottomright"))
        self.fit(bounds)
        self._points: list[dict] = []
        self._colors: dict[int, str] = {}
        self.selected: int | None = None
        self._on_click = on_click
        self.map.on_interaction(self._interaction)

    def show_click_class(self, name: str | None, color: str | None = None) -> None:
        """Show beside the training-mode button which class a click adds (None: no class yet)."""
        import html

        if name is None:
            self.click_class.value = ""
            return
        swatch = (f"<span style='display:inline-block;width:10px;height:10px;margin:0 4px;"
                  f"background:{html.escape(color or '#888')};border:1px solid #555'></span>")
        self.click_class.value = f"<span style='font-size:12px'>a click adds{swatch}{html.escape(name)}</span>"

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

    def replace_image(self, new, *, preview: tuple[str, object] | None = None) -> None:
        """Show another image: its tile layer ``new`` (a layer bounded to it, whose tiles all start fresh) in
        place of the previous one, over ``preview`` (``(url, bounds)`` of :meth:`show_preview`; None keeps the
        current one); the overlays are emptied and moved to the image's extent, ``new.bounds``."""
        with self.image.hold_sync():
            if preview is not None:
                self.show_preview(*preview)
            if self.image_layer is not None:
                self.image.remove(self.image_layer)
            new.pane = "landclass-image"
            self.image.add(new)
        self.image_layer = new
        bounds = getattr(new, "bounds", None)
        for name in self.OVERLAYS:
            self.show_overlay(name, EMPTY_PNG, bounds or None)

    def clear_image(self) -> None:
        """No image (a new recipe): no tiles, no preview, no overlays."""
        with self.image.hold_sync():
            if self.image_layer is not None:
                self.image.remove(self.image_layer)
            self.image_layer = None
            self.preview_layer.url = EMPTY_PNG
        self.clear_overlays()

    def show_preview(self, url: str, bounds) -> None:
        """Show ``url`` (an image ``data:`` URL: :func:`landclass_ui.overlay.rgb_overlay`) under the image's tiles,
        over ``bounds`` (``((south, west), (north, east))``, degrees)."""
        with self.preview_layer.hold_sync():
            self.preview_layer.bounds = [list(bounds[0]), list(bounds[1])]
            self.preview_layer.url = url

    def show_overlay(self, name: str, url: str, bounds=None) -> None:
        """Show ``url`` (a PNG ``data:`` URL, :func:`landclass_ui.overlay.overlay`) in the overlay ``name``
        (a key of :data:`OVERLAYS`) over ``bounds`` (``((south, west), (north, east))``, degrees; None keeps
        the current ones). Both change in one message, so the new picture never shows at the old place."""
        layer = getattr(self, self.OVERLAYS[name])
        with layer.hold_sync():
            if bounds is not None:
                layer.bounds = [list(bounds[0]), list(bounds[1])]
            layer.url = url

    def clear_overlays(self, *names: str) -> None:
        """Show nothing in the overlays ``names`` (all when none is named)."""
        for name in names or tuple(self.OVERLAYS):
            self.show_overlay(name, EMPTY_PNG)

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
        polygons outlined in the class colour and lightly filled, points as small circles. The pointer over
        a feature highlights it and shows its class (:attr:`hover`)."""
        drawn = []
        for name, color, data in layers:
            layer = GeoJSON(data=data, name=name,
                            style={"color": color, "fillColor": color, "weight": 2, "opacity": 1.0,
                                   "fillOpacity": 0.15},
                            hover_style={"weight": 4, "fillOpacity": 0.4},
                            point_style={"radius": 4, "fillOpacity": 0.8})  # points of a file as small circles
            layer.on_hover(lambda name=name, color=color, **event: self._show_hover(name, color))
            drawn.append(layer)
        self.polygons_layer.layers = drawn

    def _show_hover(self, name: str, color: str) -> None:
        import html

        self.hover.value = (f"<div style='background:rgba(255,255,255,0.9);padding:2px 6px;font-size:12px'>"
                            f"<span style='display:inline-block;width:10px;height:10px;margin-right:4px;"
                            f"background:{html.escape(color)};border:1px solid #555'></span>training polygon: "
                            f"<b>{html.escape(name)}</b></div>")

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

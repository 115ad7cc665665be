"""Tile URLs for rasters, served by localtileserver 1.x.

Where tiles reach the browser depends on how the app runs (see ../shared/notes/STACK.md):

* ``kernel``: standalone ``voila app.ipynb``. Voila loads no Jupyter server extension, so localtileserver's
  proxy path 404s; tiles are requested from ``127.0.0.1:<port>`` and jupyter-loopback carries them over the
  kernel's websocket.
* ``proxy``: under a Jupyter server (JupyterLab, ``/voila/render/app.ipynb``, Binder): localtileserver's own
  server extension proxies ``<base>/localtileserver-proxy/<port>/``.

:func:`detect_routing` picks one from the environment voila gives its kernel (``SERVER_SOFTWARE``,
``SCRIPT_NAME``); ``LANDCLASS_TILE_ROUTING=kernel|proxy`` overrides it (needed for ``voila <folder>``, which
also serves under ``/voila/render/``).
"""
from __future__ import annotations

import os
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["ROUTING_ENV", "detect_routing", "TileService", "with_query", "registered"]

#: Real paths of the rasters the app registered (its image's display copy, the live and exported maps): the
#: only files the tile server answers for (:func:`_guard`).
_REGISTERED: set[str] = set()
#: Routes that name a file in ``?filename=`` and answer about it; every other route (localtileserver's web
#: pages, STAC and mosaic readers that fetch URLs, the API docs) is refused.
_SERVED = ("/api/tiles/", "/api/metadata", "/api/bounds", "/api/thumbnail", "/api/palettes")


def registered() -> frozenset[str]:
    """The real paths the tile server may serve (what the app registered)."""
    return frozenset(_REGISTERED)


def _guard() -> None:
    """Put a filter in front of localtileserver's shared FastAPI app, before its server starts: a request is
    answered only when it names (``?filename=``) a raster the app registered, on a tile route; anything else
    gets HTTP 403. Without it, any local program or web page that reaches the server's 127.0.0.1 port can read
    tiles of any raster-readable file of the user (localtileserver serves any ``filename`` it is given), or
    make it fetch URLs (its STAC routes)."""
    from localtileserver.manager import AppManager
    from starlette.responses import PlainTextResponse

    app = AppManager.get_or_create_app()
    if getattr(app.state, "landclass_guard", False):
        return

    @app.middleware("http")
    async def only_registered(request, call_next):
        path = request.url.path
        name = request.query_params.get("filename")
        if path == "/api/palettes" or (path.startswith(_SERVED) and name
                                       and os.path.realpath(name) in _REGISTERED):
            return await call_next(request)
        return PlainTextResponse("forbidden: landclass serves only the rasters it shows", status_code=403)

    app.state.landclass_guard = True

ROUTING_ENV = "LANDCLASS_TILE_ROUTING"


def detect_routing(environ: dict | None = None) -> str:
    """``"kernel"`` under standalone voila, ``"proxy"`` otherwise (or what ``LANDCLASS_TILE_ROUTING`` says).

    >>> detect_routing({"SERVER_SOFTWARE": "voila/0.5.8", "SCRIPT_NAME": "/"})
    'kernel'
    >>> detect_routing({"SERVER_SOFTWARE": "voila/0.5.8", "SCRIPT_NAME": "/voila/render/app.ipynb"})
    'proxy'
    """
    env = os.environ if environ is None else environ
    mode = env.get(ROUTING_ENV, "auto").strip().lower()
    if mode in ("kernel", "proxy"):
        return mode
    if env.get("SERVER_SOFTWARE", "").startswith("voila/") and "/voila/render/" not in env.get("SCRIPT_NAME", ""):
        return "kernel"
    return "proxy"


def with_query(url: str, **params) -> str:
    """``url`` with query parameters set or replaced (``{z}/{x}/{y}`` placeholders kept as they are)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({k: str(v) for k, v in params.items()})
    return urlunsplit(parts._replace(query=urlencode(query, safe="/{}:,")))


class TileService:
    """Tile clients on one localtileserver server, with URLs the browser can reach.

    Parameters
    ----------
    routing : ``"kernel"``, ``"proxy"`` or None (detect).
    """

    def __init__(self, routing: str | None = None):
        self.routing = routing or detect_routing()
        self._clients = {}

    @staticmethod
    def preload() -> threading.Thread:
        """Import localtileserver (about a second: FastAPI, rio-tiler, rioxarray) on a background thread, so that
        it overlaps other work (the image's display copy) instead of following it."""
        def load():
            try:
                import localtileserver  # noqa: F401
            except Exception:  # reported where it is used (client), with the context of a layer
                pass

        thread = threading.Thread(target=load, name="landclass-tiles-import", daemon=True)
        thread.start()
        return thread

    def client(self, path: str):
        """A ``localtileserver.TileClient`` for ``path`` (cached); the path is registered as one the server may
        serve (:func:`_guard`, set up before the first client starts the server)."""
        from localtileserver import TileClient

        path = str(path)
        _guard()
        _REGISTERED.add(os.path.realpath(path))
        if path not in self._clients:
            if self.routing == "kernel":
                self._clients[path] = TileClient(path, client_host="127.0.0.1", client_port=True)
            else:
                self._clients[path] = TileClient(path)
        return self._clients[path]

    def layer(self, path: str, **kwargs):
        """An ``ipyleaflet.TileLayer`` for ``path`` (``localtileserver.get_leaflet_tile_layer``), limited to
        the raster's bounds (Leaflet requests no tile outside them: no HTTP 404 where there is nothing) and
        without the loading spinner, which raised in the browser for layers inside a ``LayerGroup``
        (jupyter-leaflet 0.20: ``map_view`` undefined) and left them without tiles.

        The bounds are fixed when the layer is made: point a layer at another raster of the same extent with
        :meth:`url`, and make new layers for another image. Call :meth:`client` first from a background
        thread (it starts the tile server: about a second), then this on the kernel's event loop (it makes
        a widget and, in ``kernel`` routing, adds the server's port to :meth:`bridge`).
        """
        from localtileserver import get_leaflet_tile_layer

        return get_leaflet_tile_layer(self.client(path), show_loading=False, **kwargs)

    @staticmethod
    def bridge():
        """jupyter-loopback's comm bridge (a widget), enabled but not displayed: the app puts it in its own
        widget tree, so it reaches the page with the app, and tile layers made later (after the notebook cell
        has run) route through it. localtileserver finds it enabled and adds each server port to it instead
        of displaying a bridge of its own in whatever cell runs then. None where jupyter-loopback's comm
        extra (anywidget) is missing: localtileserver then does as it does alone."""
        try:
            import jupyter_loopback

            return jupyter_loopback.enable_comm_bridge(display=False)
        except ImportError:
            return None

    def url(self, path: str, template_url: str, version: int) -> str:
        """The tile URL of ``template_url`` (a layer's URL) pointed at another file of the same server, with a
        version parameter so the browser fetches fresh tiles; the file is registered as one the server may
        serve."""
        _REGISTERED.add(os.path.realpath(str(path)))
        return with_query(template_url, filename=str(path), v=version)

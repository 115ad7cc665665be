"""The tile server answers only for the rasters the app registered: another raster of the user (a real band file
here), localtileserver's web pages and its URL-fetching STAC routes get HTTP 403; the registered raster's
metadata and tiles are served. Real HTTP requests to the server the app starts."""
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from landclass_ui.tiles import TileService, registered

DATA = Path(__file__).parent / "data"
SHOWN = DATA / "l5_amazon" / "LT52240631988227CUB02_B4.TIF"
PRIVATE = DATA / "s2_amazon" / "sen2_L2A_12band.tif"  # stands for any other raster on the user's disk


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def centre_tile(path: Path, zoom: int = 12):
    """The Web Mercator tile over the raster's centre (morecantile, rio-tiler's tile matrix library)."""
    import morecantile
    import rasterio
    from rasterio.warp import transform

    with rasterio.open(path) as src:
        (lon,), (lat,) = transform(src.crs, "EPSG:4326", [(src.bounds.left + src.bounds.right) / 2],
                                   [(src.bounds.bottom + src.bounds.top) / 2])
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, zoom)
    return {"z": t.z, "x": t.x, "y": t.y}


@pytest.fixture(scope="module")
def served():
    service = TileService("kernel")
    client = service.client(str(SHOWN))
    return service, client, f"http://127.0.0.1:{client.server_port}"


def test_only_registered_rasters_are_served(served):
    service, client, base = served
    quote = lambda p: urllib.parse.quote(str(p))
    assert status(f"{base}/api/metadata?filename={quote(SHOWN)}") == 200
    tile = centre_tile(SHOWN)
    assert status(client.get_tile_url().format(**tile)) == 200
    assert status(f"{base}/api/metadata?filename={quote(PRIVATE)}") == 403
    other = centre_tile(PRIVATE)
    assert status(f"{base}/api/tiles/{other['z']}/{other['x']}/{other['y']}.png?filename={quote(PRIVATE)}") == 403
    assert status(f"{base}/api/metadata?filename={quote(str(DATA / 'l5_amazon' / '..' / 's2_amazon' / PRIVATE.name))}"
                  ) == 403  # another way to name it
    assert status(f"{base}/api/stac/info?url=https://example.com/item.json") == 403
    assert status(f"{base}/") == 403 and status(f"{base}/swagger/") == 403
    assert status(f"{base}/api/metadata") == 403  # no filename: localtileserver would serve its sample
    # a raster the app shows later (a new version of the live map, an export) is registered by its URL
    url = service.url(str(PRIVATE), client.get_tile_url(), 1)
    assert str(PRIVATE.resolve()) in registered()
    assert status(url.format(**other)) == 200


def test_the_server_listens_on_loopback_only(served):
    _, client, _ = served
    assert client.server_host == "127.0.0.1"

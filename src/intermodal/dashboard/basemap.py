"""The tower map's base: country shapes drawn as SVG, from a file that ships with the hub.

The map must work where the hub does, often with no internet (no tile server, no CDN), so
the base is Natural Earth's 1:50m countries as TopoJSON (npm `world-atlas`, vendored in
static/, see VENDORED.md), decoded here and projected onto the window the shipments
occupy. Only the rings that cross the window are drawn, with points closer than a
fraction of a pixel merged, so a regional map is a few tens of kilobytes of SVG.

Decoding TopoJSON is thirty lines (delta-decoded, quantized arcs stitched into rings); the
Python packages that do it (topojson, geopandas) pull in shapely and GEOS for far more
than a base map needs, so it is written here.

The projection is equirectangular, scaled by the cosine of the window's middle latitude:
shapes look right over the few hundred kilometres a regional freight map spans. A window
across the antimeridian is not supported (it draws the two halves apart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import orjson

WORLD = Path(__file__).parent / "static" / "world-atlas-2.0.2-countries-50m.json"
WIDTH = 1000.0
ASPECT = 0.5  # height / width of the drawn map


@dataclass(frozen=True, slots=True)
class Ring:
    bbox: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max
    points: tuple[tuple[float, float], ...]  # (lon, lat)


@dataclass(frozen=True, slots=True)
class Country:
    name: str
    rings: tuple[Ring, ...]


@cache
def countries() -> tuple[Country, ...]:
    """Every country's rings, decoded once per process."""
    topology = orjson.loads(WORLD.read_bytes())
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs: list[list[tuple[float, float]]] = []
    for arc in topology["arcs"]:
        x = y = 0
        decoded = []
        for dx, dy in arc:
            x += dx
            y += dy
            decoded.append((x * sx + tx, y * sy + ty))
        arcs.append(decoded)

    def ring(indexes: list[int]) -> Ring:
        points: list[tuple[float, float]] = []
        for index in indexes:
            arc = arcs[index] if index >= 0 else arcs[~index][::-1]
            points.extend(arc[1:] if points else arc)  # consecutive arcs share an end point
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        return Ring((min(lons), min(lats), max(lons), max(lats)), tuple(points))

    found = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        kind = geometry.get("type")
        polygons = (
            [geometry["arcs"]]
            if kind == "Polygon"
            else geometry["arcs"]
            if kind == "MultiPolygon"
            else []
        )
        rings = tuple(ring(r) for polygon in polygons for r in polygon)
        name = (geometry.get("properties") or {}).get("name", "")
        found.append(Country(str(name), rings))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Window:
    """The part of the world a map shows, and how a longitude/latitude lands on it."""

    lon_min: float
    lat_min: float
    lon_max: float
    lat_max: float

    @classmethod
    def around(cls, points: list[tuple[float, float]], margin: float = 0.15) -> Window:
        """The window that holds every (lon, lat) with a margin; a sensible one if empty."""
        if not points:
            return cls(-130.0, 20.0, -60.0, 55.0)  # North America, the demo's first region
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        lon_min, lon_max, lat_min, lat_max = min(lons), max(lons), min(lats), max(lats)
        # At least ~2 degrees across, so one truck is not a map of a parking lot.
        span_lon = max(lon_max - lon_min, 2.0)
        span_lat = max(lat_max - lat_min, 1.5)
        mid_lon, mid_lat = (lon_min + lon_max) / 2, (lat_min + lat_max) / 2
        # Widen or heighten to the map's fixed shape, so the page never leaves blank bands.
        kx = math.cos(math.radians(mid_lat))
        if span_lat > span_lon * kx * ASPECT:
            span_lon = span_lat / (kx * ASPECT)
        else:
            span_lat = span_lon * kx * ASPECT
        half_lon, half_lat = span_lon * (0.5 + margin), span_lat * (0.5 + margin)
        return cls(
            max(-180.0, mid_lon - half_lon),
            max(-85.0, mid_lat - half_lat),
            min(180.0, mid_lon + half_lon),
            min(85.0, mid_lat + half_lat),
        )

    @property
    def _kx(self) -> float:
        return math.cos(math.radians((self.lat_min + self.lat_max) / 2))

    @property
    def scale(self) -> float:
        return WIDTH / max(1e-9, (self.lon_max - self.lon_min) * self._kx)

    @property
    def height(self) -> float:
        return (self.lat_max - self.lat_min) * self.scale

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon_min) * self._kx * self.scale, (self.lat_max - lat) * self.scale

    def crosses(self, bbox: tuple[float, float, float, float]) -> bool:
        lon_min, lat_min, lon_max, lat_max = bbox
        return not (
            lon_max < self.lon_min
            or lon_min > self.lon_max
            or lat_max < self.lat_min
            or lat_min > self.lat_max
        )


def land_path(window: Window) -> str:
    """One SVG path (`d`) with every country ring that crosses the window, in its pixels."""
    return _land_path(window)


@lru_cache(maxsize=32)
def _land_path(window: Window) -> str:
    parts: list[str] = []
    for country in countries():
        for ring in country.rings:
            if not window.crosses(ring.bbox):
                continue
            last: tuple[float, float] | None = None
            ring_parts: list[str] = []
            for lon, lat in ring.points:
                x, y = window.xy(lon, lat)
                point = (round(x, 1), round(y, 1))
                if point == last:
                    continue
                ring_parts.append(f"{point[0]:g},{point[1]:g}")
                last = point
            if len(ring_parts) >= 3:
                parts.append("M" + "L".join(ring_parts) + "Z")
    return "".join(parts)

"""Places and distances: what positions, arrival times and the tower's map agree on.

Addresses in the canonical model carry no coordinates (partners rarely send them), so a
stop is placed by its city, or failing that its country, from a small gazetteer of the
freight cities the demo and the examples use. A stop nobody can place has no distance and
no baseline ETA; the assists say so instead of guessing. A geocoding service would place
any address but needs a network and a contract; `locate` is the one seam to put it behind.

Distances are great-circle (haversine) kilometres times a road factor: trucks do not drive
straight lines, and 1.2 is the usual circuity of road networks between cities.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime

EARTH_RADIUS_KM = 6371.0088
ROAD_FACTOR = 1.2


@dataclass(frozen=True, slots=True)
class Point:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Position:
    """One telematics fix for a shipment (or its vehicle): where, how fast, when, how sure."""

    shipment_key: str
    latitude: float
    longitude: float
    recorded_at: datetime
    speed_kmh: float | None = None
    heading: float | None = None
    accuracy_m: float | None = None
    vehicle_id: str | None = None

    @property
    def point(self) -> Point:
        return Point(self.latitude, self.longitude)


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance in kilometres."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def road_km(a: Point, b: Point) -> float:
    """The distance a truck drives between two points, estimated from the straight line."""
    return haversine_km(a, b) * ROAD_FACTOR


def bearing(a: Point, b: Point) -> float:
    """The initial great-circle bearing from a to b, degrees clockwise from north."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlon = math.radians(b.longitude - a.longitude)
    x = math.sin(dlon) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return (math.degrees(math.atan2(x, y)) + 360) % 360


def offset(point: Point, metres: float, heading: float) -> Point:
    """The point `metres` away along `heading` (flat-earth: fine below a few hundred km),
    kept on the globe (latitude clamped, longitude wrapped)."""
    km = metres / 1000
    dlat = km * math.cos(math.radians(heading)) / 111.195
    scale = 111.195 * max(0.01, math.cos(math.radians(point.latitude)))
    dlon = km * math.sin(math.radians(heading)) / scale
    latitude = max(-89.9, min(89.9, point.latitude + dlat))
    return Point(latitude, ((point.longitude + dlon + 180) % 360) - 180)


def interpolate(a: Point, b: Point, fraction: float) -> Point:
    """The point `fraction` of the way from a to b (linear in degrees: fine below ~1000 km)."""
    f = min(1.0, max(0.0, fraction))
    return Point(
        a.latitude + (b.latitude - a.latitude) * f, a.longitude + (b.longitude - a.longitude) * f
    )


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.lower().replace("-", " ").split())


# (country, city) -> (latitude, longitude); city centres, 3 decimals (~100 m).
CITIES: dict[tuple[str, str], tuple[float, float]] = {
    ("US", "fremont"): (37.548, -121.989),
    ("US", "oakland"): (37.804, -122.271),
    ("US", "san francisco"): (37.775, -122.419),
    ("US", "san jose"): (37.338, -121.886),
    ("US", "sacramento"): (38.582, -121.494),
    ("US", "los angeles"): (34.052, -118.244),
    ("US", "long beach"): (33.770, -118.194),
    ("US", "san diego"): (32.716, -117.161),
    ("US", "fresno"): (36.738, -119.787),
    ("US", "reno"): (39.530, -119.814),
    ("US", "las vegas"): (36.170, -115.140),
    ("US", "phoenix"): (33.448, -112.074),
    ("US", "salt lake city"): (40.761, -111.891),
    ("US", "portland"): (45.515, -122.679),
    ("US", "seattle"): (47.606, -122.332),
    ("US", "denver"): (39.739, -104.990),
    ("US", "dallas"): (32.777, -96.797),
    ("US", "houston"): (29.760, -95.370),
    ("US", "chicago"): (41.878, -87.630),
    ("US", "memphis"): (35.150, -90.049),
    ("US", "atlanta"): (33.749, -84.388),
    ("US", "miami"): (25.762, -80.192),
    ("US", "newark"): (40.736, -74.172),
    ("US", "new york"): (40.713, -74.006),
    ("US", "boston"): (42.360, -71.059),
    ("CA", "toronto"): (43.653, -79.383),
    ("CA", "vancouver"): (49.283, -123.121),
    ("MX", "monterrey"): (25.686, -100.316),
    ("MX", "tijuana"): (32.515, -117.038),
    ("BE", "antwerp"): (51.219, 4.402),
    ("BE", "brussels"): (50.850, 4.352),
    ("BE", "ghent"): (51.054, 3.717),
    ("NL", "rotterdam"): (51.924, 4.478),
    ("NL", "amsterdam"): (52.368, 4.904),
    ("NL", "venlo"): (51.370, 6.172),
    ("DE", "hamburg"): (53.551, 9.994),
    ("DE", "bremen"): (53.079, 8.802),
    ("DE", "duisburg"): (51.434, 6.762),
    ("DE", "cologne"): (50.938, 6.960),
    ("DE", "frankfurt"): (50.110, 8.682),
    ("DE", "munich"): (48.135, 11.582),
    ("DE", "berlin"): (52.520, 13.405),
    ("FR", "paris"): (48.857, 2.352),
    ("FR", "lille"): (50.629, 3.057),
    ("FR", "lyon"): (45.764, 4.836),
    ("FR", "le havre"): (49.494, 0.108),
    ("GB", "london"): (51.507, -0.128),
    ("GB", "felixstowe"): (51.964, 1.351),
    ("ES", "madrid"): (40.417, -3.704),
    ("ES", "barcelona"): (41.385, 2.173),
    ("IT", "milan"): (45.464, 9.190),
    ("PL", "warsaw"): (52.230, 21.012),
    ("CZ", "prague"): (50.076, 14.438),
    ("AT", "vienna"): (48.208, 16.374),
    ("CH", "basel"): (47.560, 7.589),
    ("CN", "shanghai"): (31.230, 121.474),
    ("CN", "shenzhen"): (22.543, 114.058),
    ("SG", "singapore"): (1.352, 103.820),
}

# Country -> a freight hub inside it, used when only the country is known.
COUNTRIES: dict[str, tuple[float, float]] = {
    "US": (39.828, -98.579),
    "CA": (43.653, -79.383),
    "MX": (25.686, -100.316),
    "BE": (51.219, 4.402),
    "NL": (51.924, 4.478),
    "DE": (51.165, 10.451),
    "FR": (46.603, 1.888),
    "GB": (52.356, -1.174),
    "ES": (40.417, -3.704),
    "IT": (45.464, 9.190),
    "PL": (52.230, 21.012),
    "CZ": (50.076, 14.438),
    "AT": (48.208, 16.374),
    "CH": (47.560, 7.589),
    "CN": (31.230, 121.474),
    "SG": (1.352, 103.820),
}


def locate(country: str | None, city: str | None = None) -> tuple[Point, str] | None:
    """A stop's point and how precisely it was placed ("city" or "country"), or None."""
    if not country:
        return None
    country = country.upper()
    if city:
        found = CITIES.get((country, _fold(city)))
        if found is not None:
            return Point(*found), "city"
    centre = COUNTRIES.get(country)
    if centre is not None:
        return Point(*centre), "country"
    return None

"""Which grid (网格) a report belongs to, when a grid map is configured (`GRIDWORKER_DISPATCH__GRID_MAP`).

The map is a JSON file the subdistrict maintains: `[{"grid": "G03-12", "name": "幸福社区第3网格",
"keywords": ["幸福小区", "解放路1号"], "polygon": [[lat, lng], ...]}, ...]`. Coordinates (a WeChat location message)
are matched by point-in-polygon; a text location by the longest keyword it contains. No match leaves the grid empty
for the command center to assign.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from assistant.domain import Location
from assistant.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Grid:
    grid: str
    name: str
    keywords: tuple[str, ...]
    polygon: tuple[tuple[float, float], ...]

    def contains(self, lat: float, lng: float) -> bool:
        """Ray casting over (lat, lng) vertices."""
        inside = False
        pts = self.polygon
        for i in range(len(pts)):
            (y1, x1), (y2, x2) = pts[i], pts[i - 1]
            if (y1 > lat) != (y2 > lat) and lng < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
                inside = not inside
        return inside


class GridMap:
    def __init__(self, grids: list[Grid]) -> None:
        self.grids = grids

    @classmethod
    def load(cls, path: Path) -> GridMap:
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
            return cls([Grid(str(r["grid"]), str(r.get("name", r["grid"])), tuple(r.get("keywords", ())),
                             tuple((float(a), float(b)) for a, b in r.get("polygon", ()))) for r in rows])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"grid map {path} is unreadable: {exc}") from exc

    def locate(self, location: Location) -> str | None:
        if location.latitude is not None and location.longitude is not None:
            for g in self.grids:
                if len(g.polygon) >= 3 and g.contains(location.latitude, location.longitude):
                    return g.grid
        text = f"{location.text} {location.label or ''}"
        best = max(((len(k), g.grid) for g in self.grids for k in g.keywords if k and k in text), default=None)
        return best[1] if best else None

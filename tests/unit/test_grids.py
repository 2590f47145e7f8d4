"""Reports find their grid from coordinates (point in polygon) or from the place named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.domain import Location
from assistant.errors import ConfigError
from assistant.reports.grids import GridMap

pytestmark = pytest.mark.unit
SQUARE = [[29.50, 106.50], [29.50, 106.60], [29.60, 106.60], [29.60, 106.50]]


def grid_map(tmp_path: Path) -> GridMap:
    path = tmp_path / "grids.json"
    path.write_text(json.dumps([
        {"grid": "G01-01", "name": "幸福社区第1网格", "keywords": ["幸福小区"], "polygon": SQUARE},
        {"grid": "G01-02", "name": "幸福社区第2网格", "keywords": ["幸福小区南区", "解放路"]},
    ], ensure_ascii=False), encoding="utf-8")
    return GridMap.load(path)


def test_coordinates_inside_a_polygon(tmp_path: Path) -> None:
    grids = grid_map(tmp_path)
    assert grids.locate(Location(latitude=29.55, longitude=106.55)) == "G01-01"
    assert grids.locate(Location(latitude=29.70, longitude=106.55)) is None


def test_the_longest_keyword_wins(tmp_path: Path) -> None:
    grids = grid_map(tmp_path)
    assert grids.locate(Location(text="幸福小区南区5栋门口")) == "G01-02"
    assert grids.locate(Location(text="幸福小区3栋")) == "G01-01"
    assert grids.locate(Location(text="别的地方")) is None


def test_a_broken_map_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("[{", encoding="utf-8")
    with pytest.raises(ConfigError):
        GridMap.load(tmp_path / "bad.json")

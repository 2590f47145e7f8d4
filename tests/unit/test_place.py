"""Where a message says the problem is: the learned place tagger (a character CRF), its fallback to the rules, and the
packaged artefact being the one fitted on the packaged bank."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.reports import intent, place
from assistant.reports.extract import find_place, place_findable, place_rank

pytestmark = pytest.mark.unit

ESTATES = ["青松苑", "金竹花园", "蓝湾山庄", "翠柏家园", "石门新村", "桂香公寓", "月湖天地", "红枫大院"]
ROADS = ["兴业路", "长江二路", "黄桷街", "杨柳巷", "和平大道", "科园四路"]
PROBLEMS = ["垃圾桶满了好几天没人收", "路灯不亮了", "有人在楼道里堆杂物", "井盖烂了一个洞", "狗天天晚上叫"]


def _rows() -> list[tuple[str, str | None]]:
    rows: list[tuple[str, str | None]] = []
    for i, (estate, problem) in enumerate((e, p) for e in ESTATES for p in PROBLEMS):
        where = f"{estate}{i % 9 + 1}栋门口"
        rows.append((f"你好 {where}{problem} 麻烦来看一下", where))
        road = ROADS[i % len(ROADS)]
        rows.append((f"{problem}，就在{road}{i + 10}号旁边", f"{road}{i + 10}号旁边"))
        rows.append((f"我们楼底下{problem}，好恼火", None))
    return rows


def test_the_tagger_learns_places_from_examples_and_finds_none_where_there_is_none(tmp_path: Path) -> None:
    rows = _rows()
    model = tmp_path / "place.crfsuite"
    fitted = place.fit(rows, find_place, place_rank, place_findable, "toy", model, folds=3)
    assert fitted.cv["accuracy"] >= 0.9
    tagger = place.PlaceTagger(model)
    span = tagger.span("蓝湾山庄7栋门口路灯不亮了")  # a combination not in the examples
    assert span is not None and span.text == "蓝湾山庄7栋门口" and 0.0 < span.confidence <= 1.0
    assert tagger.span("我们楼底下狗天天晚上叫，好恼火") is None


def test_without_the_artefact_the_rules_find_places(tmp_path: Path) -> None:
    reader = place.load(find_place, place_rank, place_findable, tmp_path / "absent.crfsuite", tmp_path / "absent.json")
    assert reader.mode == "rules"
    assert reader.find("幸福小区3栋门口的路灯坏了") == find_place("幸福小区3栋门口的路灯坏了")


def test_the_rules_win_where_they_name_the_place_better() -> None:
    class Fixed:
        def span(self, text: str) -> place.Span:
            return place.Span("门口", 0, 0.9)

    ranked = place.Policy(0.5, False, place_rank)
    assert place.PlaceReader(Fixed(), lambda text: "锦绣山庄5栋", ranked).find("…") == "锦绣山庄5栋"  # type: ignore[arg-type]
    unsure = place.Policy(0.95, True, place_rank)
    assert place.PlaceReader(Fixed(), lambda text: "", unsure).find("…") == ""  # type: ignore[arg-type]
    # a span of only generic words is no span: its none trusted, nothing; else the rules' place
    screened = place.Policy(0.0, True, None, place_findable)
    assert place.PlaceReader(Fixed(), lambda text: "幸福小区", screened).find("…") == ""  # type: ignore[arg-type]
    screened = place.Policy(0.0, False, None, place_findable)
    assert place.PlaceReader(Fixed(), lambda text: "幸福小区", screened).find("…") == "幸福小区"  # type: ignore[arg-type]


def test_the_packaged_tagger_was_fitted_on_the_packaged_bank() -> None:
    meta = json.loads(place.SIDECAR.read_text(encoding="utf-8"))
    assert meta["bank_digest"] == intent.bank_digest(intent.read_bank()), "run gridworker learn-place"
    assert place.MODEL.is_file() and meta["cv"]["accuracy"] > meta["cv"]["rules_alone"]
    assert place.load(find_place, place_rank, place_findable).mode == "learned"


def test_one_tagger_serves_several_threads_without_mixing_messages() -> None:
    from concurrent.futures import ThreadPoolExecutor

    reader = place.load(find_place, place_rank, place_findable)
    texts = [f"{estate}{n}栋门口的垃圾桶满了好几天了没人收" for estate in ESTATES for n in range(1, 6)]
    alone = [reader.find(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(reader.find, texts * 4))
    assert together == alone * 4 and all(alone)

import pytest

from assistant.numerals import cn_to_int, int_to_cn

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "value"),
    [("一", 1), ("十", 10), ("十二", 12), ("二十", 20), ("一百零五", 105), ("一百一十", 110),
     ("二百零五", 205), ("一千零八十三", 1083), ("一千二百六十", 1260), ("三千", 3000), ("12", 12)],
)
def test_cn_to_int(text: str, value: int) -> None:
    assert cn_to_int(text) == value


@pytest.mark.parametrize("n", [1, 9, 10, 11, 20, 99, 100, 101, 105, 110, 205, 999, 1000, 1001, 1083, 1260])
def test_round_trip(n: int) -> None:
    assert cn_to_int(int_to_cn(n)) == n


def test_statute_spelling() -> None:
    assert int_to_cn(12) == "十二"
    assert int_to_cn(1083) == "一千零八十三"
    assert int_to_cn(110) == "一百一十"


def test_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        cn_to_int("十二条")

"""Chinese numerals as they appear in statute markers (第一千零八十三条) to integers and back."""

from __future__ import annotations

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG = {"万": 10_000, "亿": 100_000_000}


def cn_to_int(text: str) -> int:
    """Parse a Chinese numeral: 十二 → 12, 一百零五 → 105, 一千零八十三 → 1083. Arabic digits pass through."""
    if not text:
        raise ValueError("empty numeral")
    if text.isdigit():
        return int(text)
    total = section = digit = 0
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            section += (digit or 1) * _UNITS[ch]
            digit = 0
        elif ch in _BIG:
            total += (section + digit) * _BIG[ch]
            section = digit = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + section + digit


_SMALL = "零一二三四五六七八九"


def int_to_cn(n: int) -> str:
    """Write an article number the way statutes do: 12 → 十二, 105 → 一百零五, 1083 → 一千零八十三."""
    if n < 0 or n >= 10_000:
        raise ValueError(f"out of range: {n}")
    if n < 10:
        return _SMALL[n]
    parts: list[str] = []
    zero_pending = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = (n // value) % 10
        if d == 0:
            if parts:
                zero_pending = True
            continue
        if zero_pending:
            parts.append("零")
            zero_pending = False
        parts.append(_SMALL[d] + unit)
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text

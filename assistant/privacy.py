"""Masking of personal numbers in free text: mainland ID numbers, bank cards, mobile and landline phones.

Who sees what (docs/security.md, "Personal data"): the command center's service tokens
(`GRIDWORKER_DISPATCH__TOKEN_HASHES`) read reports whole, since they dispatch and call residents back; every other
output (the dispatch API to any other key, residents' WeChat views, status notices, logs) is masked here. A masked
number keeps enough to be recognised:

    510104199003071234   → 5101**********1234     (ID: the region's first four, the last four)
    6222 0212 3456 7890  → 6222 **** **** 7890    (bank card, Luhn-checked: ticket numbers and ids stay)
    13812345678          → 138****5678            (mobile)
    023-68123456         → 023-****3456           (landline with its area code)

`install_log_masking` masks every log record of the process where it is made, whatever logger or handler.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

_ID = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])"
)
_CARD = re.compile(r"(?<![0-9])[0-9]{4}(?:[ -]?[0-9]{4}){3}(?:[ -]?[0-9]{1,3})?(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(\+?86[ -]?)?(1[3-9][0-9])[ -]?([0-9]{4})[ -]?([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(\(?0[1-9][0-9]{1,2}\)?[ -]?)([2-9][0-9]{2,3})([0-9]{4})(?![0-9])")
_LONG_DIGITS = re.compile(r"[0-9][0-9 -]{5,}[0-9]")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    text = m.group(0)
    digits = re.sub(r"[ -]", "", text)
    if not 16 <= len(digits) <= 19 or not _luhn(digits):
        return text
    out, seen = [], 0
    for ch in text:  # the separators stay where they were: 6222 **** **** 7890
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= 4 or seen > len(digits) - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_phone(text: str) -> str:
    """138****5678 and 023-****3456: the phone numbers in `text` masked, nothing else."""
    text = _MOBILE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}{'*' * len(m.group(2))}{m.group(3)}", text)


def mask(text: str) -> str:
    """`text` with every ID number, bank card number and phone number in it masked."""
    if not text or not any(ch.isdigit() for ch in text):
        return text
    text = _ID.sub(lambda m: m.group(0)[:4] + "*" * 10 + m.group(0)[-4:], text)
    text = _CARD.sub(_card, text)
    return mask_phone(text)


def mask_contact(text: str | None) -> str | None:
    """A contact field: masked like free text, and any other run of seven or more digits keeps only its last four
    (a contact field holds a number to call, whatever its form)."""
    if not text:
        return text
    return _LONG_DIGITS.sub(lambda m: re.sub(r"[0-9]", "*", m.group(0)[:-4]) + m.group(0)[-4:], mask(text))


def mask_report(report: dict[str, Any]) -> dict[str, Any]:
    """A copy of a dispatch report (the store's JSON) as a caller without the right to personal data sees it: the
    description, the place, the time as told, the contact and the events' notes masked."""
    out = copy.deepcopy(report)
    for key in ("description", "occurred_at"):
        if isinstance(out.get(key), str):
            out[key] = mask(out[key])
    out["contact"] = mask_contact(out.get("contact"))
    location = out.get("location")
    if isinstance(location, dict):
        for key in ("text", "label"):
            if isinstance(location.get(key), str):
                location[key] = mask(location[key])
    for event in out.get("events") or ():
        if isinstance(event.get("note"), str):
            event["note"] = mask(event["note"])
    return out


_previous_factory: Any = None


def _masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record: logging.LogRecord = _previous_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a bad format: the handler reports it as it always has
        return record
    masked = mask(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
    return record


def install_log_masking() -> None:
    """Mask personal numbers in every log record made from now on in this process (idempotent). A record factory,
    not a handler filter: it holds for every logger and every handler, those added later included."""
    global _previous_factory
    current = logging.getLogRecordFactory()
    if current is _masked_record:
        return
    _previous_factory = current
    logging.setLogRecordFactory(_masked_record)

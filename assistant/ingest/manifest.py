"""The manifest beside a folder of documents (`manifest.json`, as in ../shared/corpus and
../shared/eval/stard/laws): file → category, title, level, date. Both shapes in use are read, and every problem
(broken JSON, a malformed entry, an unknown key, level or category id) goes to the caller's `warn` as (file, what)
while the rest is used (issue 26 #12).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.domain import LEVELS

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    category: str | None
    category_name: str | None
    title: str | None
    level: str | None
    date: str | None


WarnFn = Callable[[str, str], None]  # (file, what is wrong)

KNOWN_LEVELS = frozenset(LEVELS)
# Keys of the two manifest shapes in use; the ones ingest does not read are bookkeeping (provenance, sizes, the
# STARD columns), accepted so that a typo ("titel") stands out.
_TOP_KEYS = frozenset({"version", "source", "totals", "categories"})
_CATEGORY_KEYS = frozenset({"id", "name_zh", "name_en", "description_zh", "documents"})
_DOCUMENT_KEYS = frozenset({
    "file", "title", "law_name", "level", "date", "source_path", "bytes", "chars", "note",
    "gold_version", "stard_queries", "gold_articles", "project_corpus_file",
})
MANIFEST = "manifest.json"


def log_warning(file: str, what: str) -> None:
    logger.warning("%s: %s", file, what)


def load_manifest(
    root: Path, taxonomy: dict[str, str] | None = None, warn: WarnFn = log_warning
) -> dict[str, ManifestEntry] | None:
    """Both manifest shapes in use: {categories: [{id, name_zh, documents: [...]}]} and a list of entries.

    None when there is no usable manifest. Every problem (broken JSON, a malformed entry, an unknown key, level
    or category id) is passed to `warn` and the rest is used: a bad entry never stops an ingest."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        warn(MANIFEST, f"not valid JSON ({exc}): ignored, categories come from folder names")
        return None
    out: dict[str, ManifestEntry] = {}
    if isinstance(data, dict) and isinstance(data.get("categories"), list):
        _unknown_keys(MANIFEST, data, _TOP_KEYS, warn)
        for i, cat in enumerate(data["categories"], start=1):
            _read_category(i, cat, taxonomy or {}, out, warn)
    elif isinstance(data, list):
        for i, doc in enumerate(data, start=1):
            _read_document(f"entry {i}", doc, None, out, warn)
    else:
        warn(MANIFEST, 'neither {"categories": [...]} nor a list of entries: ignored')
        return None
    return out


def _read_category(
    i: int, cat: Any, taxonomy: dict[str, str], out: dict[str, ManifestEntry], warn: WarnFn
) -> None:
    if not isinstance(cat, dict) or not isinstance(cat.get("id"), str) or not isinstance(cat.get("documents", []),
                                                                                          list):
        warn(MANIFEST, f"malformed category {i} ({_show(cat)}): expected {{id, documents: [...]}}, ignored")
        return
    where = f"category {cat['id']!r}"
    _unknown_keys(f"{MANIFEST} {where}", cat, _CATEGORY_KEYS, warn)
    if taxonomy and cat["id"] not in taxonomy:
        warn(MANIFEST, f"unknown category {cat['id']!r} (not in the taxonomy): used as given")
    for j, doc in enumerate(cat.get("documents", []), start=1):
        _read_document(f"{where}, entry {j}", doc, cat, out, warn)


def _read_document(
    where: str, doc: Any, cat: dict[str, Any] | None, out: dict[str, ManifestEntry], warn: WarnFn
) -> None:
    fields = ("title", "law_name", "level", "date")
    if (not isinstance(doc, dict) or not isinstance(doc.get("file"), str) or not doc["file"]
            or any(not isinstance(doc.get(k), str | None) for k in fields)):
        warn(MANIFEST, f"malformed entry ({where}: {_show(doc)}): expected {{file, title, level, date}} "
                       "with text values, ignored")
        return
    file = doc["file"]
    _unknown_keys(file, doc, _DOCUMENT_KEYS, warn)
    level = doc.get("level")
    if level is not None and level not in KNOWN_LEVELS:
        warn(file, f"unknown level {level!r} in {MANIFEST} (known: {', '.join(sorted(KNOWN_LEVELS))}): "
                   "used as given")
    if file in out:
        warn(file, f"listed twice in {MANIFEST}: the later entry is used")
    out[file] = ManifestEntry(cat["id"] if cat else None, cat.get("name_zh") if cat else None,
                              doc.get("title") or doc.get("law_name"), level, doc.get("date"))


def _unknown_keys(file: str, obj: dict[str, Any], known: frozenset[str], warn: WarnFn) -> None:
    unknown = sorted(str(k) for k in obj if k not in known)
    if unknown:
        s = "s" if len(unknown) > 1 else ""
        where = "" if file.startswith(MANIFEST) else f" in {MANIFEST}"
        warn(file, f"unknown key{s} {', '.join(repr(k) for k in unknown)}{where}: ignored")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."

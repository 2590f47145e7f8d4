"""Loaders: a folder of documents → `SourceDocument`s, with category, level and title from a manifest
(`manifest.json` beside the documents, as in ../shared/corpus or ../shared/eval/stard/laws), from front
matter (the team's guides), or from the folder name.

Each format goes through a well-kept library: pypdf, python-docx, BeautifulSoup. A file that cannot be read
raises `DocumentError` with the reason; the pipeline reports it and moves on. What is wrong with the manifest (and a
file it does not list) is a warning, (file, what), passed to the caller's `warn`: a bad entry never stops a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from assistant.domain import SourceDocument
from assistant.errors import DocumentError
from assistant.ingest.manifest import MANIFEST, ManifestEntry, WarnFn, load_manifest, log_warning
from assistant.retrieval.normalize import normalize_document

logger = logging.getLogger(__name__)

SUPPORTED = (".md", ".txt", ".html", ".htm", ".docx", ".pdf")
SKIP_NAMES = {"readme.md", "readme.txt", "changelog.md", "license", "license.md"}
_DATE_IN_NAME = re.compile(r"\((\d{4}-\d{2}-\d{2})\)")
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def load_taxonomy(path: Path) -> dict[str, str]:
    """Category id → Chinese name, from corpus/taxonomy.json."""
    if not path.is_file():
        return {}
    return {c["id"]: c["name_zh"] for c in json.loads(path.read_text(encoding="utf-8"))["categories"]}


MAX_FILE_BYTES = 32 * 2**20  # the largest policy document of the shared corpus is under 1 MB


def discover(root: Path) -> list[Path]:
    files = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUPPORTED
        and p.name.lower() not in SKIP_NAMES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files)


def decode(data: bytes, name: str) -> str:
    if not data.strip():
        raise DocumentError("empty file")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise DocumentError("not UTF-8 or GB18030 text")


def read_text(path: Path, data: bytes) -> str:
    """The document as markdown-like text: headings as `#` lines, paragraphs on their own lines."""
    suffix = path.suffix.lower()
    name = path.name
    if suffix in (".md", ".txt"):
        return decode(data, name)
    if suffix in (".html", ".htm"):
        return _html_to_text(decode(data, name))
    if suffix == ".docx":
        return _docx_to_text(path, name)
    if suffix == ".pdf":
        return _pdf_to_text(path, name)
    raise DocumentError(f"unsupported type {suffix}")


def _html_to_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "nav", "footer"]):
        tag.decompose()
    lines: list[str] = []
    for el in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre"]):
        text = el.get_text(" ", strip=True)
        if not text:
            continue
        if el.name and el.name[0] == "h":
            lines.append("#" * int(el.name[1]) + " " + text)
        else:
            lines.append(text)
    if not lines:
        lines = [t for t in soup.get_text("\n").splitlines() if t.strip()]
    return "\n\n".join(lines)


def _docx_to_text(path: Path, name: str) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, ValueError, KeyError, OSError) as exc:
        raise DocumentError(f"unreadable DOCX ({exc})") from exc
    lines: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        if style.startswith("Heading") and style[-1:].isdigit():
            lines.append("#" * int(style[-1]) + " " + text)
        elif style == "Title":
            lines.append("# " + text)
        else:
            lines.append(text)
    return "\n\n".join(lines)


def _pdf_to_text(path: Path, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise DocumentError("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise DocumentError(f"unreadable PDF ({exc})") from exc
    text = "\n".join(pages)
    if not text.strip():
        raise DocumentError("PDF has no text layer (scanned?)")
    # PDF text comes as wrapped lines; put each article marker back at a line start.
    return re.sub(r"\s*(第[零一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)\s", r"\n\n\1 ", text)


def front_matter(text: str) -> tuple[dict[str, str], str]:
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    meta = {}
    for line in m.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip()] = value.strip().strip('"')
    return meta, text[m.end() :]


def load(
    root: Path, taxonomy: dict[str, str], warn: WarnFn = log_warning
) -> Iterator[SourceDocument | DocumentError]:
    """Yield each document under root, or the error that made it unreadable (never raise mid-run). What is wrong
    with the manifest, an entry naming no file here, and a file it does not list (whose category then comes from
    its folder) go to `warn` as (file, what): the run goes on."""
    root = root.resolve()
    manifest = load_manifest(root, taxonomy, warn)
    paths = discover(root)
    if manifest:
        present = {p.relative_to(root).as_posix() for p in paths}
        for file in manifest:
            if file not in present:
                warn(file, f"listed in {MANIFEST} but not found in the folder (or not a type ingest reads)")
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if not path.resolve().is_relative_to(root):  # a link out of the folder is not followed (nor indexed)
            yield DocumentError("a link to a file outside the folder: not followed", file=rel)
            continue
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                yield DocumentError(f"{size / 2**20:.0f} MB: larger than the {MAX_FILE_BYTES // 2**20} MB a policy "
                                    "document may be (not read)", file=rel)
                continue
            data = path.read_bytes()
            file_hash = hashlib.sha1(data).hexdigest()
            text = normalize_document(read_text(path, data))
        except DocumentError as exc:
            yield DocumentError(exc.reason, file=rel)
            continue
        except OSError as exc:
            yield DocumentError(str(exc), file=rel)
            continue
        meta, text = front_matter(text)
        entry = manifest.get(rel) if manifest else None
        doc = _document(root, rel, text, file_hash, meta, entry, taxonomy)
        if manifest is not None and entry is None and not meta.get("category"):
            where = "from its folder name" if "/" in rel else "as it is in no category folder"
            warn(rel, f"not in {MANIFEST}: category {doc.category!r} {where}")
        yield doc


def _document(
    root: Path, rel: str, text: str, file_hash: str, meta: dict[str, str], entry: ManifestEntry | None,
    taxonomy: dict[str, str],
) -> SourceDocument:
    """Metadata by precedence: front matter, then the manifest entry, then the folder and file name."""
    folder = rel.split("/", 1)[0] if "/" in rel else ""
    category = meta.get("category") or (entry.category if entry else None) or folder or "uncategorized"
    category_name = (entry.category_name if entry else None) or taxonomy.get(category) or category
    date_match = _DATE_IN_NAME.search(rel.rsplit("/", 1)[-1])
    return SourceDocument(
        root=str(root),
        file=rel,
        text=text,
        file_hash=file_hash,
        category=category,
        category_name=category_name,
        level=meta.get("level") or (entry.level if entry else None) or ("guide" if meta else "unknown"),
        title=meta.get("title") or (entry.title if entry else None),
        date=meta.get("updated")
        or (entry.date if entry else None)
        or (date_match.group(1) if date_match else None),
        audience="worker" if meta.get("audience") == "worker" else "public",
        meta=meta,
    )

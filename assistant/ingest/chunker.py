"""From a parsed document to chunks: one per article (split at 款/项 when too long for the embedder),
the preamble of judicial interpretations as its own chunk, and heading-aware sentence splitting for
documents that are not statutes (guides, FAQs, notices)."""

from __future__ import annotations

import hashlib
import re
import uuid

from assistant.domain import Chunk, SourceDocument
from assistant.ingest.statute import Article, ParsedDoc, heading_kind

NAMESPACE = uuid.UUID("6f1c2a52-6d0e-4d7b-9a57-0b6b8e7c2f10")
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")


def point_id(doc_id: str, article_key: str, part: int) -> str:
    """Deterministic point id: the same article of the same document always lands on the same point."""
    return str(uuid.uuid5(NAMESPACE, f"{doc_id}|{article_key}|{part}"))


def doc_id_for(root: str, file: str) -> str:
    return hashlib.sha1(f"{root}|{file}".encode()).hexdigest()[:16]


def _split_long(paragraphs: list[str], max_chars: int, header: list[str]) -> list[list[str]]:
    """Greedy packing of paragraphs into parts of at most max_chars; each later part repeats the header."""
    parts: list[list[str]] = []
    current: list[str] = []
    size = 0
    for para in paragraphs:
        pieces = [para] if len(para) <= max_chars else _sentences(para, max_chars)
        for piece in pieces:
            if current and size + len(piece) > max_chars:
                parts.append(current)
                current, size = list(header), sum(len(h) for h in header)
            current.append(piece)
            size += len(piece)
    if current:
        parts.append(current)
    return parts


def _sentences(text: str, max_chars: int) -> list[str]:
    out: list[str] = []
    buf = ""
    for sent in filter(None, _SENTENCE_END.split(text)):
        if buf and len(buf) + len(sent) > max_chars:
            out.append(buf)
            buf = ""
        buf += sent
    if buf:
        out.append(buf)
    # A single run-on sentence longer than max_chars is cut hard rather than exceeding the embedder.
    return [s[i : i + max_chars] for s in out for i in range(0, len(s), max_chars)]


def _article_header(article: Article) -> list[str]:
    """What every part of a split article repeats: the marker, and the lead-in 款 when it introduces 项."""
    first = article.paragraphs[0]
    if first.rstrip().endswith(("：", ":")) and len(first) <= 200:
        return [first]
    return [article.marker]


def _levels(headings: tuple[str, ...]) -> tuple[str | None, str | None]:
    chapter = section = None
    for h in headings:
        kind = heading_kind(h)
        if kind == "节":
            section = h
        elif kind in ("章", "编", "分编") or kind is None:
            chapter = h if kind in ("章", None) or chapter is None else chapter
    return chapter, section


class Chunker:
    def __init__(self, max_chars: int = 500) -> None:
        self.max_chars = max_chars

    def chunks(self, src: SourceDocument, parsed: ParsedDoc, signature: str) -> list[Chunk]:
        title = src.title or parsed.title or src.file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        book: str | None = None
        display_title = title
        if parsed.book:
            # The 民法典 parts cite as 《中华人民共和国民法典》第X条, whatever the manifest calls the file.
            display_title, book = parsed.title or title.split("·", 1)[0], parsed.book
        doc_id = doc_id_for(src.root, src.file)
        eff = parsed.effective_date or src.date
        out: list[Chunk] = []

        def make(kind, key, part, no, sub, label, heads, text) -> Chunk:  # type: ignore[no-untyped-def]
            chapter, section = _levels(heads)
            crumbs = [f"《{display_title}》", *([book] if book else []), *heads]
            if kind == "article":
                crumbs.append(label.split("》", 1)[-1])
            breadcrumb = " › ".join(crumbs)
            meta = f"{src.category}|{src.level}|{src.audience}|{eff}|{display_title}|{breadcrumb}|{signature}"
            content_hash = hashlib.sha1(f"{meta}\n{text}".encode()).hexdigest()
            return Chunk(
                point_id=point_id(doc_id, key, part), doc_id=doc_id, root=src.root, file=src.file,
                file_hash=src.file_hash, title=display_title, category=src.category,
                category_name=src.category_name, level=src.level, audience=src.audience,
                effective_date=eff, kind=kind, article_no=no, article_sub=sub, label=label,
                breadcrumb=breadcrumb, chapter=chapter or book, section=section, part=part, text=text,
                content_hash=content_hash,
            )

        if parsed.is_statute:
            if parsed.preamble.strip():
                for i, part in enumerate(_split_long(parsed.preamble.split("\n"), self.max_chars, [])):
                    out.append(make("preamble", "preamble", i, None, None, f"《{display_title}》", (), "\n".join(part)))
            seen: dict[str, int] = {}
            for art in parsed.articles:
                key = art.marker
                # A repeated marker (an annex restating articles) gets its own key rather than overwriting.
                seen[key] = seen.get(key, 0) + 1
                if seen[key] > 1:
                    key = f"{key}#{seen[key]}"
                label = f"《{display_title}》{art.marker}"
                if len(art.text) <= self.max_chars:
                    out.append(make("article", key, 0, art.no, art.sub, label, art.headings, art.text))
                    continue
                parts = _split_long(art.paragraphs, self.max_chars, _article_header(art))
                for i, part in enumerate(parts, start=1):
                    out.append(make("article", key, i, art.no, art.sub, label, art.headings, "\n".join(part)))
            return out

        for s_index, (heads, body) in enumerate(parsed.sections):
            label = f"《{display_title}》" + (f"{heads[-1]}" if heads else "")
            for i, part in enumerate(_split_long(body.split("\n"), self.max_chars, [])):
                out.append(make("section", f"s{s_index}", i, None, None, label, heads, "\n".join(part)))
        return out

"""Parser for Chinese statutes as they appear in the LawRefBook markdown (see ../shared/corpus/README.md).

It turns a normalised document into a `ParsedDoc`: title, header metadata and effective date, the heading
path (编/分编/章/节 or topical headings, whatever markdown level they sit at), the preamble, and the articles
with their 款 (paragraphs) and 项 (items). A document with no article markers is not a statute: the caller
falls back to heading-aware splitting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.numerals import cn_to_int

# The corpus README's marker regex: it matches all 18,765 markers and nothing else (including the one typo,
# `第一百二十八 条侦查人员…`, whose marker has a space inside and none after).
ARTICLE_RE = re.compile(r"^第([零一二三四五六七八九十百千]+) ?条(?:之([一二三四五六七八九十]+))?")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
META_RE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日")
INLINE_EFFECTIVE_RE = re.compile(r"自(\d{4})年(\d{1,2})月(\d{1,2})日起施行")
ITEM_RE = re.compile(r"^[（(][一二三四五六七八九十]+[）)]")
INFO_END = "<!-- INFO END -->"
_HEAD_KIND = re.compile(r"^第[零一二三四五六七八九十百千]+(编|分编|章|节)")


@dataclass(slots=True)
class Article:
    no: int
    sub: int | None
    marker: str  # 第十二条 / 第一百三十三条之一
    paragraphs: list[str]  # first one starts with the marker
    headings: tuple[str, ...]  # heading path at the article

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass(slots=True)
class ParsedDoc:
    title: str
    book: str | None  # second H1 of the 民法典 parts (物权编)
    metadata: list[str]
    effective_date: str | None
    preamble: str
    articles: list[Article] = field(default_factory=list)
    sections: list[tuple[tuple[str, ...], str]] = field(default_factory=list)  # non-statute fallback

    @property
    def is_statute(self) -> bool:
        return bool(self.articles)


def _iso(y: str, m: str, d: str) -> str:
    return f"{int(y):04d}-{int(m):02d}-{int(d):02d}"


def effective_date(metadata: list[str], body_head: str = "") -> str | None:
    """The date the current text took effect: the latest 施行 date, else the latest dated event in the header."""
    dated: list[tuple[str, str]] = []
    for line in metadata:
        m = META_RE.match(line)
        if m:
            dated.append((_iso(*m.groups()), line))
        for m2 in INLINE_EFFECTIVE_RE.finditer(line):
            dated.append((_iso(*m2.groups()), "施行"))
    for m3 in INLINE_EFFECTIVE_RE.finditer(body_head):
        dated.append((_iso(*m3.groups()), "施行"))
    if not dated:
        return None
    in_force = [d for d, line in dated if "施行" in line]
    latest = max(d for d, _ in dated)
    if in_force and max(in_force) >= latest:
        return max(in_force)
    return latest


def heading_kind(text: str) -> str | None:
    m = _HEAD_KIND.match(text)
    return m.group(1) if m else None


def parse(text: str) -> ParsedDoc:
    """Parse a normalised markdown document. Never raises on odd structure; an empty result is the caller's call."""
    lines = text.split("\n")
    h1, metadata, body_start = _header(lines)
    articles, preamble, sections = _body(lines[body_start:], h1)
    title = h1[0] if h1 else ""
    book = h1[1] if len(h1) > 1 else None
    return ParsedDoc(
        title=title,
        book=book,
        metadata=metadata,
        # 施行 clauses sit in the preamble of interpretations and in the last articles (附则) of statutes.
        effective_date=effective_date(metadata, "\n".join(preamble[:5] + [a.text for a in articles[-3:]])),
        preamble="\n".join(preamble),
        articles=articles,
        sections=[(heads, "\n".join(body)) for heads, body in sections if body],
    )


def _header(lines: list[str]) -> tuple[list[str], list[str], int]:
    """The level-1 headings (title, then the 民法典 book) and metadata lines up to the `INFO END` comment, or
    without one the first level-1 heading; and the line the body starts at."""
    h1: list[str] = []
    metadata: list[str] = []
    header_end = next((i for i, line in enumerate(lines) if line.strip() == INFO_END), None)
    if header_end is not None:
        for line in lines[:header_end]:
            s = line.strip()
            if s.startswith("# "):
                h1.append(s[2:].strip())
            elif s:
                metadata.append(s.rstrip("）)").removesuffix("根据").strip())
        return h1, metadata, header_end + 1
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("# ") and not h1:
            h1.append(s[2:].strip())
            return h1, metadata, i + 1
    return h1, metadata, 0


def _body(
    lines: list[str], h1: list[str]
) -> tuple[list[Article], list[str], list[tuple[tuple[str, ...], list[str]]]]:
    """Articles under their headings, the preamble before the first article, and the text of each section that is
    not an article's. A level-1 heading before any article, with no title yet, is the title (added to `h1`)."""
    stack: list[tuple[int, str]] = []  # (markdown level, heading text)
    articles: list[Article] = []
    preamble: list[str] = []
    sections: list[tuple[tuple[str, ...], list[str]]] = [((), [])]
    current: Article | None = None
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        hm = HEADING_RE.match(line)
        if hm:
            level, heading = len(hm.group(1)), re.sub(r"\s+", " ", hm.group(2))
            if level == 1 and not articles and not h1:
                h1.append(heading)
                continue
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
            current = None
            sections.append((tuple(h for _, h in stack), []))
            continue
        am = ARTICLE_RE.match(line)
        if am:
            no = cn_to_int(am.group(1))
            sub = cn_to_int(am.group(2)) if am.group(2) else None
            marker = line[: am.end()].replace(" ", "")
            body = line[am.end() :].strip()
            current = Article(no, sub, marker, [f"{marker} {body}".strip()], tuple(h for _, h in stack))
            articles.append(current)
            continue
        if current is not None:
            current.paragraphs.append(line)
        else:
            if not articles:
                preamble.append(line)
            sections[-1][1].append(line)
    return articles, preamble, sections

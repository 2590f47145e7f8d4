"""Citation verification: every 《title》第X条 in an answer must name a text that was retrieved for it.

A citation the model invents (a law that was not retrieved, or an article of it that was not) is removed from the
answer and counted; it is never shown. The answer's `citations` list is then exactly the retrieved texts that the
verified answer cites, in the order it cites them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.domain import Citation, Hit, law_key
from assistant.numerals import cn_to_int

_CN_NUM = "零〇一二三四五六七八九十百千两"
CITATION = re.compile(
    rf"《(?P<title>[^《》\n]{{2,80}})》\s*(?P<article>第(?P<no>[{_CN_NUM}\d]+)条(?:之(?P<sub>[一二三四五六七八九十]+))?)?"
)
_EMPTY_BRACKETS = re.compile(r"[（(]\s*(?:依据|根据|参见|见|详见)?[：:\s、，,和及]*[）)]")
_DANGLING = re.compile(r"(?:依据|根据|参见|详见)[：:]?\s*(?=[。；;，,\n]|$)")
_SEPARATORS = re.compile(r"(?<=[（(])[、，,和及；;\s]+|[、，,和及；;\s]+(?=[）)])|、{2,}")


# What a cited document's name ends with. Other names in 《》 (a form: 《…审批表》, a certificate: 《残疾人证》) are
# things the text talks about, not sources, and are left alone.
_DOCUMENT = re.compile(
    r"(法|法典|条例|办法|规定|细则|决定|规则|意见|通知|指引|指南|标准|解释|纲要|规划|准则|章程|公约|流程|要点|须知|制度|方案)$"
)


@dataclass(frozen=True, slots=True)
class Verified:
    text: str
    citations: list[Citation]
    removed: list[str]


def _number(text: str | None) -> int | None:
    if not text:
        return None
    return int(text) if text.isdigit() else cn_to_int(text)


def article_number(label: str) -> int | None:
    """The article number a citation label names (《…》第十二条 → 12), None for a guide or no citation."""
    m = CITATION.search(label)
    return _number(m.group("no")) if m else None


def _article_of(hit: Hit) -> str:
    label = hit.label
    return label[label.index("》") + 1 :].strip() if "》" in label else label


def to_citation(hit: Hit) -> Citation:
    return Citation(
        label=hit.label, title=hit.title, article=_article_of(hit), text=hit.text, source=hit.file,
        category=hit.category, audience=hit.audience, point_id=hit.point_id,
    )


def verify(text: str, evidence: list[Hit]) -> Verified:
    """Keep the citations that point at evidence, remove the others, list what is cited."""
    by_title: dict[str, list[Hit]] = {}
    for hit in evidence:
        by_title.setdefault(law_key(hit.title), []).append(hit)

    cited: dict[str, Hit] = {}
    removed: list[str] = []
    # what a retrieved text itself cites (a guide's legal basis, an article's 依照《…》) is evidence too, whether or
    # not the cited text came back with it: quoting the evidence never invents a citation
    vouched = {key for hit in evidence for key in cited_keys(hit.text)}
    named = {law_key(m.group("title")) for hit in evidence for m in CITATION.finditer(hit.text)}

    def check(m: re.Match[str]) -> str:
        hits = by_title.get(law_key(m.group("title")))
        if not hits and not m.group("no") and not _DOCUMENT.search(m.group("title")):
            return m.group(0)  # not a document: a form or certificate named in the text
        no = _number(m.group("no"))
        key = law_key(m.group("title"))
        if not hits and not (key in named if no is None else (key, no, _number(m.group("sub"))) in vouched):
            removed.append(m.group(0))
            return ""
        if no is None:
            for hit in hits or []:  # a document named without an article: it cites what was retrieved of it
                cited.setdefault(hit.point_id, hit)
            return m.group(0)
        sub = _number(m.group("sub"))
        match = [h for h in (hits or []) if h.article_no == no and (h.article_sub or None) == sub]
        if not match and (key, no, sub) in vouched:
            return m.group(0)
        if not match:
            removed.append(m.group(0))
            return ""
        for hit in match:
            cited.setdefault(hit.point_id, hit)
        return m.group(0)

    out = CITATION.sub(check, text)
    if removed:
        out = _DANGLING.sub("", out)
        out = _SEPARATORS.sub("", out)
        out = _EMPTY_BRACKETS.sub("", out)
    seen: set[str] = set()
    citations = []
    for hit in cited.values():
        if hit.label in seen:
            continue
        seen.add(hit.label)
        citations.append(to_citation(hit))
    return Verified(out, citations, removed)


def cited_keys(text: str) -> list[tuple[str, int, int | None]]:
    """(law key, article, sub) of every article citation in a text: the laws a guide section rests on."""
    out = []
    for m in CITATION.finditer(text):
        no = _number(m.group("no"))
        if no is not None:
            out.append((law_key(m.group("title")), no, _number(m.group("sub"))))
    return out

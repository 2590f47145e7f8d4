"""The extractive composer: an answer with no model at all, built from the retrieved articles' own sentences.

It picks the sentences that answer the question (query terms, their lexicon expansions, and the question's intent:
how to apply, what to bring, who is in charge, how long, what penalty), then shapes them for the persona:
- resident: the two or three sentences that matter in plain words, the document named briefly, one next step;
- worker: the articles sorted under 依据 / 条件 / 流程 / 时限 / 责任部门 / 罚则, every line cited as 《title》第X条.
Every sentence it shows comes from an article that was retrieved, so every citation it writes verifies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from assistant.domain import Hit
from assistant.retrieval.evidence import GENERIC  # words that may not carry a sentence on their own

_MARKER = re.compile(r"^\s*第[零〇一二三四五六七八九十百千两\d]+\s*条(之[一二三四五六七八九十]+)?\s*")
_SENT_END = re.compile(r"(?<=[。！？!?；;])")
_ITEM = re.compile(r"^\s*([（(][一二三四五六七八九十\d]+[)）]|\d+[.、．]|[一二三四五六七八九十]+、)\s*")
_HEADING = re.compile(r"^#+\s*")
_LIST_MARK = re.compile(r"^\s*([-*•]\s*|\d+[.、．]\s*)+")
_BASIS_WORD = re.compile(r"^(依据|根据|参见)[：:]?\s*")
_CITE_PAREN = re.compile(r"[（(](依据|根据|参见)[^（）()]*[）)]")

# Question intents and the words of the sentences that serve them.
INTENTS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "apply": (re.compile(r"怎么(申请|办|弄|搞|领|报)|如何(申请|办理)|咋(个)?(申请|办|弄|搞)|手续|办理|流程|程序|步骤|申领|登记"),
              re.compile(r"申请|提出|提交|办理|受理|审核|审批|登记|申领|向.{0,20}(申请|提出|报告)")),
    "materials": (re.compile(r"材料|带(啥|什么|哪些)|证明|证件|资料|手续"),
                  re.compile(r"材料|证明|户口簿|身份证|证件|提交|提供|出具|填写")),
    "eligibility": (re.compile(r"能不能|能否|可不可以|可以吗|行不行|条件|资格|符合|够不够|算不算|有没有(资格|份)|能(吃|领|享受|申请)"),
                    re.compile(r"条件|符合|低于|高于|可以|有权|享受|给予|纳入|属于|认定")),
    "penalty": (re.compile(r"罚|处罚|处理|违法|犯法|管不管|有人管|怎么办|后果|责任"),
                re.compile(r"罚款|处.{0,12}(罚|拘留|警告)|责令|没收|拘留|警告|吊销|追究|处分|赔偿|承担")),
    "deadline": (re.compile(r"多久|多长时间|几天|期限|时限|时间|什么时候|啥时候|多少天|好久"),
                 re.compile(r"\d+日|[一二三四五六七八九十]+日|日内|天|个月|年内|期限|之日起|工作日|及时|立即")),
    "who": (re.compile(r"找谁|找哪|哪里|哪儿|哪个部门|谁管|谁负责|在哪|去哪|归谁|哪个单位|打(什么|啥)电话"),
            re.compile(r"部门|街道办事处|人民政府|居民委员会|村民委员会|负责|主管|机关|机构|委员会|窗口|热线")),
    "amount": (re.compile(r"多少钱|补贴多少|标准|金额|发多少|给多少|多少"),
               re.compile(r"标准|元|补贴|金额|发放|补助|津贴|按月")),
}

# Plain words for residents: the statute's phrasing → what a neighbour would say.
PLAIN_WORDS: tuple[tuple[str, str], ...] = (
    ("县级以上地方人民政府", "区县政府"), ("县级人民政府", "区县政府"), ("街道办事处或者镇人民政府", "街道办事处或镇政府"),
    ("乡镇人民政府、街道办事处", "街道办事处或乡镇政府"), ("应当", "要"), ("不得", "不能"), ("予以", "给予"),
    ("户籍所在地", "户口所在地"), ("或者", "或"), ("以及", "和"), ("其", "其"),
)


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    hit: Hit
    rank: int  # the article's rank in the retrieval
    order: int  # position inside the article
    score: float


def article_body(text: str) -> str:
    return _MARKER.sub("", text.strip(), count=1)


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of an article or guide section, markers and headings removed."""
    out: list[str] = []
    for line in article_body(text).splitlines():
        line = _HEADING.sub("", line).strip()
        if not line:
            continue
        for piece in _SENT_END.split(line):
            piece = piece.strip()
            if len(_ITEM.sub("", piece).strip("。；;，, ")) < 4:
                continue  # a bare item number (（一）) or a fragment: nothing to say on its own
            if piece.endswith(("：", ":")):
                continue  # a list's lead-in (按照下列程序办理：) says nothing without its items
            out.append(piece)
    return out


def intents(question: str) -> list[str]:
    return [name for name, (ask, _) in INTENTS.items() if ask.search(question)]


class Composer:
    def __init__(self, next_steps: dict[str, str], default_next_step: str, resident_chars: int = 300) -> None:
        self.next_steps = next_steps
        self.default_next_step = default_next_step
        self.resident_chars = resident_chars

    # -- scoring ---------------------------------------------------------------------------------------------
    def rank_sentences(
        self, question: str, terms: list[str], expansions: list[str], evidence: list[Hit],
        synonyms: Callable[[str], list[str]] | None = None,
    ) -> list[Sentence]:
        """Sentences of the evidence, best first. A query word and its synonyms form one group that counts once
        (低保 and 最低生活保障 are one concept, not two matches)."""
        wanted = intents(question)
        weights: dict[str, float] = {}
        groups: list[tuple[frozenset[str], float]] = []
        grouped: set[str] = set()
        for t in dict.fromkeys(terms):
            if len(t) < 2 and t in GENERIC:
                continue
            w = 0.3 if t in GENERIC or len(t) < 2 else min(len(t), 4) / 2
            weights[t] = max(weights.get(t, 0.0), w)
            forms = {t} | {x for x in (synonyms(t) if synonyms else []) if len(x) >= 2 and x not in GENERIC}
            grouped |= forms
            groups.append((frozenset(forms), w))
        for t in expansions:
            if len(t) >= 2 and t not in GENERIC and t not in grouped:
                w = 0.5 * min(len(t), 4) / 2
                weights[t] = max(weights.get(t, 0.0), w)
                groups.append((frozenset({t}), w))
        for group, w in groups:
            for form in group:
                weights[form] = max(weights.get(form, 0.0), w)
        # Topic words: what the question is about, not what it asks (处罚, 申请 …). A sentence may be chosen only
        # when it, or its article, speaks of the topic: an intent word alone does not make a sentence relevant.
        asks = [INTENTS[name][0] for name in INTENTS]
        topic = [t for t, w in weights.items() if w >= 1.0 and not any(rx.fullmatch(t) or rx.search(t) for rx in asks)]
        votes = category_votes(evidence)
        main = max(votes, key=lambda c: votes[c]) if votes else ""
        out = []
        for rank, hit in enumerate(evidence):
            # soft category routing: the category most of the top articles share is the question's likely topic
            prior = (1.5 if hit.category == main else 1.0) / (1.0 + 0.35 * rank)
            if any(t in hit.title for t in topic):  # the document whose title names the topic is central to it
                prior *= 1.3
            article = f"{hit.title}{hit.breadcrumb}{hit.text}"
            on_topic = not topic or any(t in article for t in topic)
            for order, sent in enumerate(split_sentences(hit.text)):
                if not on_topic:
                    continue
                lexical = sum(w for forms, w in groups if any(f in sent for f in forms))
                intent = sum(1.0 for name in wanted if INTENTS[name][1].search(sent))
                length = (max(len(sent), 20) / 40) ** 0.35
                score = (lexical + 1.2 * intent) * prior / length
                out.append(Sentence(sent, hit, rank, order, score))
        out.sort(key=lambda s: (-s.score, s.rank, s.order))
        return out

    # -- personas --------------------------------------------------------------------------------------------
    def resident(self, question: str, ranked: list[Sentence], evidence: list[Hit], budget: int) -> str:
        """A few plain sentences from at most two documents, the documents named, one next step. A question that
        asks several things (how to apply, what to bring, who handles it …) gets, first, the best sentence for
        each thing it asks, then the best of the rest."""
        chosen: list[Sentence] = []
        docs: list[str] = []
        used = 0
        floor = 0.35 * ranked[0].score if ranked else 0.0
        wanted = intents(question)
        most = min(4, max(3, len(wanted)))

        def take(s: Sentence) -> bool:
            nonlocal used
            if s in chosen or (s.hit.doc_id not in docs and len(docs) == 2):
                return False
            text = plain(s.text)
            if used and used + len(text) > budget:
                return False
            chosen.append(s)
            used += len(text)
            if s.hit.doc_id not in docs:
                docs.append(s.hit.doc_id)
            return True

        for name in wanted if len(wanted) > 1 else []:
            serves = INTENTS[name][1]
            if any(serves.search(s.text) for s in chosen):
                continue
            for s in ranked:
                if s.score <= 0.5 * floor or len(chosen) == most:
                    break
                if serves.search(s.text) and take(s):
                    break
        for s in ranked:
            if s.score <= floor or len(chosen) >= most:
                break
            take(s)
        if not chosen:
            chosen = [ranked[0]] if ranked else []
        by_hit: dict[str, list[Sentence]] = {}
        for s in sorted(chosen, key=lambda s: (s.rank, s.order)):
            by_hit.setdefault(s.hit.point_id, []).append(s)
        lines = []
        # the article whose sentence answers best leads, whatever its retrieval rank
        for group in sorted(by_hit.values(), key=lambda g: -max(s.score for s in g)):
            body = _ensure_stop("".join(_clip(plain(s.text), budget) for s in group))
            if _CITE_PAREN.search(body):  # a guide's sentence that names its own legal basis: cite that instead
                body = _CITE_PAREN.sub(lambda m: "（" + _BASIS_WORD.sub("", m.group(0)[1:-1]) + "）", body)
                lines.append(body)
            else:
                lines.append(f"{body[:-1]}（{short_label(group[0].hit)}）{body[-1]}")
        return "\n".join(lines)

    def next_step(self, evidence: list[Hit]) -> str:
        """The next step of the category the top articles mostly belong to (rank-weighted vote)."""
        votes = category_votes(evidence)
        for category in sorted(votes, key=lambda c: -votes[c]):
            step = self.next_steps.get(category)
            if step:
                return step
        return self.default_next_step

    def worker(self, question: str, ranked: list[Sentence], evidence: list[Hit], max_lines: int = 10) -> str:
        """The articles' sentences under the headings a grid worker works with, every line cited."""
        sections: dict[str, list[Sentence]] = {name: [] for name in WORKER_SECTIONS}
        taken = 0
        floor = 0.2 * ranked[0].score if ranked else 0.0
        for s in ranked:
            if s.score <= floor or taken == max_lines:
                break
            sections[classify(s.text)].append(s)
            taken += 1
        if not taken and ranked:
            sections[classify(ranked[0].text)].append(ranked[0])
        labels = []
        for hit in evidence:
            if hit.label not in labels and any(s.hit.point_id == hit.point_id for v in sections.values() for s in v):
                labels.append(hit.label)
        out = [f"【依据】{'、'.join(labels)}"]
        for name, sents in sections.items():
            if not sents:
                continue
            out.append(f"【{name}】")
            for i, s in enumerate(sorted(sents, key=lambda s: (s.rank, s.order)), 1):
                text = _ensure_stop(_LIST_MARK.sub("", s.text))
                basis = _CITE_PAREN.search(text)
                if s.hit.article_no is None and basis and basis.end() >= len(text) - 1:
                    # a guide line that names its legal basis: one bracket with the basis and the guide
                    text = f"{text[: basis.end() - 1]}；见{s.hit.label}）{text[basis.end():]}"
                    out.append(f"{i}. {text}")
                else:
                    out.append(f"{i}. {text[:-1]}（{s.hit.label}）{text[-1]}")
        return "\n".join(out)


def category_votes(hits: list[Hit], depth: int = 5) -> dict[str, float]:
    """Rank-weighted votes of the top articles for their categories: the question's likely topic."""
    votes: dict[str, float] = {}
    for rank, hit in enumerate(hits[:depth]):
        votes[hit.category] = votes.get(hit.category, 0.0) + 1.0 / (rank + 1)
    return votes


WORKER_SECTIONS = ("条件", "流程", "时限", "责任部门", "罚则", "要点")
_SECTION_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("罚则", re.compile(r"罚款|处.{0,10}(罚|拘留|警告)|责令.{0,10}(改正|停止|拆除)|没收|拘留|吊销|追究.{0,6}责任|处分")),
    ("时限", re.compile(r"\d+日|[一二三四五六七八九十]+(个)?(工作)?日|日内|个月内|之日起|期限|限期")),
    ("流程", re.compile(r"申请|提出|提交|受理|审核|审批|调查|核查|公示|登记|报告|办理|[0-9]+\.|走访|告知")),
    ("条件", re.compile(r"条件|符合|低于|高于|有权|可以享受|纳入|认定为|属于")),
    ("责任部门", re.compile(r"(部门|街道办事处|人民政府|委员会|机关|机构).{0,12}(负责|主管|管理|组织|指导|监督)|负责.{0,10}工作")),
)


def classify(sentence: str) -> str:
    return next((name for name, rx in _SECTION_RULES if rx.search(sentence)), "要点")


def plain(text: str) -> str:
    text = _ITEM.sub("", _LIST_MARK.sub("", text))
    for legal, plain_word in PLAIN_WORDS:
        text = text.replace(legal, plain_word)
    return text


def short_label(hit: Hit) -> str:
    """《title》第X条 for a law; 《guide》 for a team guide (its section name adds nothing for a resident)."""
    return hit.label if hit.article_no is not None else f"《{hit.title}》"


def _ensure_stop(text: str) -> str:
    text = text.rstrip("；;，, ")
    return text if text.endswith(("。", "！", "？", "：")) else text + "。"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip("，、；") + "…"

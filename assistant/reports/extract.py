"""From a resident's words to report fields, with no model (rules and a keyword lexicon) or with the LLM (a JSON
schema prompt, validated with pydantic, one repair attempt). Works on voice-style text without punctuation.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

from pydantic import ValidationError

from assistant.answering.emergency import EmergencyDetector
from assistant.domain import CATEGORIES, DESCRIPTION_MAX, ReportDraft
from assistant.errors import LLMUnavailable
from assistant.ports import ChatModel
from assistant.retrieval.normalize import normalize_query

logger = logging.getLogger(__name__)

# Keyword lexicon: the first category whose words appear wins; ordered from specific to general.
LEXICON: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gas_safety", ("燃气", "煤气", "天然气", "液化气", "气罐", "漏气")),
    ("fire_safety", ("着火", "起火", "火灾", "冒烟", "消防通道", "消防栓", "灭火器", "飞线充电", "电瓶车充电", "电动车充电", "楼道充电", "堆满了杂物", "堆杂物")),
    ("building_safety", ("裂缝", "开裂", "墙裂", "垮塌", "坍塌", "滑坡", "塌方", "危房", "堡坎", "挡墙", "地面塌陷", "房子裂", "天花板")),
    ("illegal_construction", ("违建", "违章", "乱搭", "私搭", "加盖", "偷偷修", "偷偷建", "违法建设", "乱建", "搭建")),
    ("dogs", ("狗", "犬", "遛狗")),
    ("vulnerable_people", ("独居", "空巢", "孤寡", "没人照顾", "无人照顾", "留守", "困境儿童", "残疾", "好几天没见", "好几天没出门", "流浪", "搭棚子住")),
    ("public_order", ("打架", "偷", "盗", "撬", "诈骗", "赌博", "赌钱", "吸毒", "可疑", "闹事", "醉酒", "高息", "传销")),
    ("noise", ("噪音", "噪声", "太吵", "吵得", "扰民", "广场舞", "装修声", "施工到半夜", "半夜施工", "半夜还在施工", "喇叭")),
    ("dispute", ("纠纷", "吵架", "吵起来", "扯皮", "矛盾", "邻里", "漏水到楼下", "欠钱", "动手")),
    ("property", ("物业", "业委会", "物管", "门禁", "保安")),
    ("public_facilities", ("路灯", "灯坏", "的灯", "井盖", "窨井", "下水道", "管道", "水管", "停水", "停电", "电梯", "健身器材", "座椅", "栏杆", "红绿灯", "公厕", "爆管", "地砖", "盲道", "漏水")),
    ("street_order", ("占道", "摆摊", "乱停", "停车", "出店经营", "小贩", "流动摊", "烧烤摊", "占了半条街", "夜市")),
    ("city_appearance", ("垃圾", "乱扔", "乱倒", "脏", "臭", "污水", "小广告", "牛皮癣", "乱贴", "油烟", "堆放", "积水")),
    ("greening", ("树", "绿化", "草坪", "花坛", "枯枝", "树枝", "砍树", "种菜")),
    ("public_health", ("老鼠", "蟑螂", "蚊子", "传染", "消毒", "卫生", "病死", "鸽子", "鸟屎", "粪")),
)
_URGENT = re.compile(r"咬|马上|尽快|赶紧|危险|严重|小孩|娃儿|孩子|学生|老人|摔|受伤|砸|随时|要垮|一直在|越来越|好几天|影响出行|漏电")
# Place patterns, most specific first: an estate or building (幸福小区3栋2单元门口), a road with a number or a
# landmark word (解放路12号, 民族路口), a bare building number (3栋楼下).
_PLACES = (
    re.compile(r"[\u4e00-\u9fa5A-Za-z0-9]{1,16}(?:小区|花园|苑|公寓|大厦|新村|家园|广场|市场|公园|学校|医院|社区|菜市场|车站|城|湾|府)"
               r"(?:[0-9一二三四五六七八九十]+(?:栋|幢|号楼|单元|楼|号))*(?:门口|楼下|旁边|对面|里面|附近|背后|后面|楼道)?"),
    re.compile(r"[\u4e00-\u9fa5A-Za-z0-9]{1,12}(?:路|街|大道|巷)(?!灯|面|过|人|况|上走|边摊)"
               r"(?:\d+号|[0-9一二三四五六七八九十]+号|口|边|旁边|附近|段)?"),
    re.compile(r"[0-9一二三四五六七八九十]+(?:栋|幢|号楼)(?:[0-9一二三四五六七八九十]+单元)?(?:门口|楼下|楼道)?"),
)
# Words that end the lead-in before a place name (「我要反映一下幸福小区」「在幸福小区」): the name starts after them.
_LEAD_IN = re.compile(r"^.*(一下|反映|报修|投诉|举报|上报|就在|住在|位于|在|到|是|的|了|说|那个|这个|个|我们|我家)")
_LANDMARK = re.compile(r"公交站|旁边|附近|对面|门口|后面|里面|楼下|地下车库|车库|[东西南北]门|大门口|路口|期|号楼|单元|\d+|[一二三四五六七八九十]+")
_VAGUE_PLACE = re.compile(r"^(我家|这里|那里|这边|那边|门口|楼下|楼上|外面|附近|走路|马路|过路|道路|一路|上路|小区|小区后面|小区门口|公园|学校|医院|广场|市场|社区|半条街|一条街|整条街|街上|路上|马路上|高速路)$")
_WHEN = re.compile(r"(今天|昨天|前天|昨晚|今早|刚才|刚刚|上午|下午|晚上|半夜|凌晨|早上|[0-9一二三四五六七八九十两]+点|好几天|这几天|最近|一直)+")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_CONTACT = re.compile(r"[，,。 ]*(?:我的|联系)?(?:电话|手机|手机号|联系方式)?(?:是|:|：)?\s*(?<!\d)1[3-9]\d{9}(?!\d)")
_FILLER = re.compile(r"^(我要|我想|想|要)?(反映|报修|投诉|举报|上报|报告)(一下|个|一个)?(问题|情况)?[，,。:： ]*")
# What a resident says before the problem (greetings, "I'd like to report something"): a closed set of openers,
# taken off the front of the description (never from inside it).
_OPENER = re.compile(
    r"^(?:(?:喂|嗯|哦|啊|诶|哎|那个|就是)[，,。 ]*|(?:你好|您好|你们好|在吗|在不在|在不|师傅|领导|同志|网格员|小哥|美女|老师)"
    r"(?:在不在|在吗)?(?:哦|哈|啊|呀|嘛)?[，,。!！? ？]*|(?:打扰(?:一下|了)|麻烦(?:你|您)?(?:一下)?|请问一下)[，,。 ]*|"
    r"(?:我|俺|我们)?(?:想|要|来|跟你们|给你们|向你们)?(?:反映|反应|投诉|举报|上报|报告|报修|说|问)(?:一下|个|一个|点|下)?"
    r"(?:事|事情|问题|情况)?(?:哈|哦|啊)?[，,。:： ]*)+"
)


# A resident names the place first and points from it (「锦绣山庄那个…」「大坪公交站的站牌…」「翠湖天地有人…」): the
# leading words of a clause, up to a position or pointing word, are the place when they hold no verb, time or person.
_POS = "门口|楼下|楼底下|旁边|对面|背后|后头|后面|外面|外头|里面|里头|侧门|后门|东门|西门|南门|北门|大门|出口|入口|路口|桥头|桥下|边上|附近|上面|下面|顶上|底下|楼道"
_DEIXIS = "那个|那边|那里|那儿|这边|这里|这个|那家|那段|那座|那棵|那根|那几|那条|那排|那块|那栋|那一|那片|这家|这条|这段"
_TOPONYM = ("站|桥|村|路|街|巷|小区|花园|苑|山庄|天地|广场|市场|公园|学校|小学|中学|幼儿园|医院|大厦|宿舍|大院|家属院|栋|幢|号|单元|"
            "湾|坝|坪|沟|口|区|期|城|府|园|庄|寺|坡|岭|山|场|楼")
_LEAD = re.compile(r"^(?:在|就在|我们|我家|我住的?|住在|我们这个|我们那个|那个|这个)?"
                  rf"(?P<name>[\u4e00-\u9fa5A-Za-z0-9]{{2,14}}?)(?P<pos>{_POS}|{_DEIXIS}|有(?=[人个家条只户一几伙套些辆群])|的|租的|我)")
# A place holds no verb, time, person or function word ...
_NOT_PLACE = re.compile(r"有|是|把|被|说|想|要|遭|搞|弄|昨|今|前天|晚上|早上|半夜|刚|一直|好多|天天|每天|不|没|莫|我|你|他|她|在|的|"
                        r"时候|了|起|过|喊|看|听|问|咋|啥|哪|什么|怎么|因为|经常|总|最近|先|找|能|会|就|都|也|还|又|很|请")
# ... and names something a grid worker can find: not only the words every building has (楼下, 隔壁, 门口, 小区,
# 这条街) but a name or a number. 「楼底下」「隔壁」「小学门口」 are not places yet: the assistant asks where.
_GENERIC = re.compile(
    r"咱们|这边|那边|这里|那里|这个|那个|这栋|那栋|这条|那条|隔壁|对门|对面|楼上|楼下|楼底下|楼顶|顶楼|楼道|楼梯|单元|小区|院子|院坝|门口|"
    r"大门|屋头|屋里|家里|后头|后面|外面|里面|里头|旁边|附近|背后|路边|街上|路上|马路|巷子|停车场|地下车库|车库|电梯|绿化带|花园|公园|广场|"
    r"菜市场|市场|学校|小学|中学|幼儿园|医院|社区|转弯|路口|出口|入口|一楼|二楼|整条|半条|半边|一条|整个|一段|那截|这截|"
    r"街|路|巷|楼|屋|家|门|边|头|上|下|里|前|后|外|顶|层|这|那"
)


def _specific(place: str) -> bool:
    """Not made only of the words every building has (a proper name or a number is in it)."""
    return not re.fullmatch(rf"(?:我们|我家|{_GENERIC.pattern})+", re.sub(r"[^\w]", "", place))


_WHOLE = re.compile(rf"^(?:在|就在|住在|地址是|位置是|地点是)?(?P<name>[\u4e00-\u9fa5A-Za-z0-9]{{2,20}}(?:{_TOPONYM}))$")


# what follows a position word when it names the place it points to (the name, a building number)
_FURTHER = re.compile(rf"的?(?P<more>[\u4e00-\u9fa5A-Za-z0-9]{{1,12}}?(?:{_TOPONYM})+)"
                      r"(?:[0-9一二三四五六七八九十]+(?:栋|幢|号楼|号|单元|楼|组))*")


def leading_place(text: str) -> str:
    for clause in re.split(r"[，。！？,.!?；;\s]+", text):
        m = _LEAD.match(clause)
        if not m:
            whole = _WHOLE.match(clause)  # a clause that is only a place: 「就在铁路村小区」
            if whole and _specific(whole.group("name")) and not _NOT_PLACE.search(whole.group("name")):
                return whole.group("name")
            continue
        name, pos = m.group("name"), m.group("pos")
        if _NOT_PLACE.search(name) or not _specific(name):
            continue
        if pos in ("的", "租的", "我") and not re.search(rf"(?:{_TOPONYM})$", name):
            continue
        place = name + (pos if re.fullmatch(_POS, pos) else "")
        more = _FURTHER.match(clause, m.end()) if re.fullmatch(_POS, pos) else None
        if more and not _NOT_PLACE.search(more.group("more")):
            place += more.group(0)  # 「歇台子菜市场对面的鑫源大厦」「杨家坪步行街背后兴胜路」: the place it points to
        return place
    return ""


def find_place(text: str) -> str:
    """The place the message names: the leading place of a clause, else an estate / road / building pattern; empty
    when it names none a grid worker could find."""
    lead = leading_place(clean_description(text))
    if lead:
        return lead
    for pattern in _PLACES:
        for m in pattern.finditer(text):
            place = _LEAD_IN.sub("", m.group(0))
            if len(place) >= 2 and not _VAGUE_PLACE.match(place) and _specific(place) and not _NOT_PLACE.search(place):
                return place
    return ""


# A name before a place word (二塘村小区, 渝州路, 袁家岗轻轨站) — not an adjective before it (老小区, 大路口, 十字路口).
_NAMED = re.compile(rf"(?<![老新大小公整半这那一])[\u4e00-\u9fa5A-Za-z0-9]{{2,}}(?:{_TOPONYM})")
_HOME = re.compile(r"小区|楼|单元|院子|屋|家|我们|隔壁|对面|对门")  # 「小区儿童游乐场」 is somewhere in some estate
_ADJECTIVAL = re.compile(r"^(?:老|新|大|小|十字|公|安置|街心|整条|半条|这条|那条|一条|村|居民)+")


def _rank(place: str) -> int:
    """How findable a place is: a name before a place word, and a number (a building, a house), each count."""
    named = any(not _ADJECTIVAL.fullmatch(m.group(0)[:-1]) and not _HOME.match(m.group(0)) and _specific(m.group(0))
                for m in _NAMED.finditer(place))
    numbered = any(ch.isdigit() for ch in place) or bool(re.search(r"[一二三四五六七八九十]+(?:栋|幢|号|组)", place))
    return int(named) + int(numbered)


def place_rank(place: str) -> int:
    """How findable a place is (0-2): a name before a place word, a number."""
    return _rank(place)


def place_findable(place: str) -> bool:
    """Names something a grid worker can find: not only the words every building has, no verb, time or person."""
    return _specific(place) and not _NOT_PLACE.search(place)


def clean_description(text: str) -> str:
    """The resident's words without the opener and the phone number; everything else is kept as said."""
    body = _OPENER.sub("", normalize_query(text)).strip()
    return _CONTACT.sub("", body).strip("，,。:： ")


def rule_urgency(text: str) -> str:
    """The rules' urgency (no model): the emergency rules, else words of risk or duration."""
    if EmergencyDetector().rule_kinds(text):
        return "emergency"
    return "urgent" if _URGENT.search(normalize_query(text)) else "routine"


def classify(text: str) -> str:
    t = normalize_query(text)
    return next((cat for cat, words in LEXICON if any(w in t for w in words)), "other")


def extract_rules(text: str, draft: ReportDraft | None = None, detector: EmergencyDetector | None = None,
                  places: Callable[[str], str] = find_place) -> ReportDraft:
    """Fill what this message tells; keep what the draft already has. `places` finds the place a message names (the
    learned tagger of `place.py` when given; the rules otherwise)."""
    draft = (draft or ReportDraft()).model_copy(deep=True)
    t = normalize_query(text)
    body = _FILLER.sub("", clean_description(t)).strip()
    if draft.category == "other":
        draft.category = classify(t)  # type: ignore[assignment]
    place = places(t)
    if place and (not draft.location.is_set() or _rank(place) > _rank(draft.location.text)):
        # a later message that names the place better (an estate, a road, a number) than the draft has: both kept
        old = draft.location.text
        text_ = f"{place}（{old}）" if old and old not in place and place not in old else place
        draft.location = draft.location.model_copy(update={"text": text_[:200]})
    if not draft.occurred_at:
        w = _WHEN.search(t)
        if w:
            draft.occurred_at = w.group(0)
    phone = _PHONE.search(t)
    if phone and not draft.contact:
        draft.contact = phone.group(0)
    if (detector or EmergencyDetector()).detect(text).emergency:
        draft.urgency = "emergency"
    elif draft.urgency == "routine" and _URGENT.search(t):
        draft.urgency = "urgent"
    if len(_content(body)) >= 4 and not _only_location(body, draft):
        description = _PHONE.sub("", body).strip("，,。 ")
        if description and description not in draft.description:
            joined = f"{draft.description}；{description}" if draft.description else description
            draft.description = joined[:DESCRIPTION_MAX]  # the schema's limit: never a draft that cannot be saved
    return draft


def _content(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _only_location(body: str, draft: ReportDraft) -> bool:
    """A reply that gives only the place (「在幸福小区3栋门口」) is not a description."""
    loc = draft.location.text
    rest = body.replace(loc, "") if loc else body
    rest = _LANDMARK.sub("", rest)
    return bool(loc) and len(_content(re.sub(r"^(在|就在|位置是|地址是|地点)", "", rest))) <= 2


SCHEMA_HINT = json.dumps(
    {"category": "|".join(CATEGORIES), "location": {"text": "地址描述"}, "description": "情况描述",
     "occurred_at": "发生时间或null", "urgency": "routine|urgent|emergency", "contact": "电话或null"},
    ensure_ascii=False,
)


def extract_llm(chat: ChatModel, prompt: str, text: str, draft: ReportDraft) -> ReportDraft:
    """The model fills the schema; invalid JSON gets one repair attempt; failing that, the rules do it."""
    messages = [
        {"role": "system", "content": prompt.replace("$schema", SCHEMA_HINT)},
        {"role": "user", "content": f"已有信息：{draft.model_dump_json()}\n居民消息：{text}"},
    ]
    for attempt in range(2):
        try:
            raw = chat.complete(messages, max_tokens=400)
        except LLMUnavailable as exc:
            logger.warning("report extraction by LLM failed, using rules: %s", exc)
            return extract_rules(text, draft)
        try:
            data = json.loads(_json_part(raw))
            merged = {**draft.model_dump(), **{k: v for k, v in data.items() if v not in (None, "", [])}}
            if isinstance(data.get("location"), dict):
                merged["location"] = {**draft.location.model_dump(), **data["location"]}
            out = ReportDraft.model_validate(merged)
            if EmergencyDetector().detect(text).emergency:
                out.urgency = "emergency"
            return out
        except (ValueError, ValidationError) as exc:
            if attempt == 0:
                messages += [{"role": "assistant", "content": raw},
                             {"role": "user", "content": f"输出不符合要求（{str(exc)[:200]}），请只输出符合格式的 JSON。"}]
    return extract_rules(text, draft)


def _json_part(raw: str) -> str:
    start, end = raw.find("{"), raw.rfind("}")
    return raw[start : end + 1] if start >= 0 and end > start else raw

"""What kind of message this is, before any retrieval: out of scope, a prompt injection, a problem to report.

Rules with explicit vocabularies, so that a reviewer can read why a message was declined. The evidence check (does
the corpus say anything about it?) comes later and catches what these lists do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.retrieval.normalize import normalize_query

# Requests the service must decline whatever the corpus holds: homework, investment tips, medical diagnosis,
# creative writing and chit-chat that is not about community affairs.
_OUT_OF_SCOPE = {
    "homework": re.compile(
        r"(作业|习题|数学题|应用题|方程|这道题|求导|积分|作文|造句|古诗|翻译(一下|这段|成英文)|英语(单词|语法)|奥数|期末考试题)"
    ),
    "investment": re.compile(
        r"(股票|炒股|a股|涨停|跌停|大盘|基金.{0,4}(买|推荐|收益)|买(哪|什么)(只|个)?(股|基金)|比特币|虚拟币|期货|理财产品推荐|彩票.{0,4}(号码|预测))"
    ),
    "medical": re.compile(
        r"(我|他|她|孩子|老人|娃).{0,6}(是不是|是否|会不会)?得了(什么|啥|啥子)?病|帮.{0,3}(诊断|看看.{0,4}病)|"
        r"(吃|用)(什么|啥|啥子)药|开(个|点)?药方|(症状|发烧|咳嗽|头疼|头痛|肚子痛).{0,12}(是什么病|怎么治|吃什么)|化验单.{0,4}(正常吗|什么意思)"
    ),
    "chitchat": re.compile(r"^(讲个笑话|给我讲个(笑话|故事)|写(一首|首)?诗|你喜欢什么|你是男的还是女的|陪我聊天)"),
}

# Attempts to change the assistant's instructions or make it reveal them. Retrieved documents are screened with
# the same list before they reach a model.
_INJECTION = re.compile(
    r"(忽略|无视|忘记|忘掉|不要理会|跳过).{0,8}(之前|以上|上面|前面|先前|所有|系统|全部).{0,6}(指令|指示|提示|规则|设定|要求|限制)|"
    r"(系统提示词|系统提示|提示词|system ?prompt|你的(指令|设定|规则)).{0,6}(是什么|输出|告诉我|打印|显示|泄露|发给我)|"
    r"(输出|打印|告诉我|显示|重复).{0,6}(你的|系统)?(提示词|系统提示|system ?prompt|初始指令)|"
    r"ignore (all |any )?(the )?(previous|above|prior|earlier) (instructions|prompts?|rules)|disregard (the |all )?(above|previous)|"
    r"you are now|developer mode|jailbreak|\bdan\b|"
    r"(从现在(开始|起)|现在起)?你(现在)?(是|扮演|变成|假装是?)(一个|一名)?(黑客|没有限制|不受限制|无限制|猫娘|另一个|我的)|"
    r"不受(任何)?(限制|约束)地?回答|进入(开发者|调试|上帝)模式",
    re.IGNORECASE,
)

# A message that reports a problem rather than asks about a rule: the assistant offers to file a report.
_REPORT_VERB = re.compile(r"我要(反映|报修|投诉|举报|上报|报告)|帮我(报|反映|上报)|(想|要)(反映|投诉|举报)|报修|能不能派人|请派人|麻烦.{0,4}(处理|来看看)")
_PROBLEM = re.compile(
    r"(坏了|不亮|黑了|漏水|爆管|堵了|堵塞|冒水|积水|塌了|裂了|歪了|松动|掉下来|破了|烂了|没人管|没人修|好几天了|一直没|"
    r"乱扔|乱堆|乱倒|占道|乱停|乱搭|私搭|违建|在建|偷偷(盖|搭|建)|噪音|太吵|扰民|吵得|臭|异味|污水|垃圾.{0,4}(没人|堆|满)|"
    r"独居|没人照顾|好几天没(出门|见)|遛狗不拴|狗(咬|叫)|流浪狗|野狗|噪声|施工到(半夜|深夜|凌晨)|油烟)"
)
_QUESTION = re.compile(r"(吗|么|呢|吧)[?？]?$|[?？]|怎么|如何|怎样|咋|啥|什么|哪|多少|几(个|次|种|号|点|岁|年)?[?？吗呢]|能不能|可不可以|是否|有没有|要不要|谁")


@dataclass(frozen=True, slots=True)
class Screening:
    out_of_scope: str | None  # the reason, when the request must be declined
    injection: bool
    report_intent: bool  # the message describes a problem (or asks to file one)
    remainder: str  # the message with any injection clause taken out


def _strip_injection(text: str) -> str:
    parts = re.split(r"[。！!？?\n；;，,]", text)
    kept = [p for p in parts if p.strip() and not _INJECTION.search(p)]
    return "，".join(kept).strip()


def screen(message: str) -> Screening:
    text = normalize_query(message)
    injection = bool(_INJECTION.search(text))
    remainder = _strip_injection(text) if injection else text
    reason = next((name for name, rx in _OUT_OF_SCOPE.items() if rx.search(remainder)), None)
    explicit = bool(_REPORT_VERB.search(remainder))
    problem = bool(_PROBLEM.search(remainder)) and not _QUESTION.search(remainder)
    return Screening(reason, injection, explicit or problem, remainder)


def screen_document(text: str) -> str:
    """A retrieved text with anything that reads like an instruction to the model taken out (indirect injection)."""
    if not _INJECTION.search(normalize_query(text)):
        return text
    return "\n".join(line for line in text.splitlines() if not _INJECTION.search(normalize_query(line)))

"""A patient resident, for measuring the reporting conversation (issue 25): the same transcripts and scoring for
the in-process eval suite and for `bench.reports` (over /wechat on loopback).

The resident sends the transcript's turns, then answers 「确认」 to a summary, 「1」 to an offer to file it, repeats the
place or the problem when asked for it (`gold.replies`), and types 「我要上报」 when nothing was offered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.retrieval.normalize import normalize_query

BARS = {
    "started by the assistant": (">=", 0.90), "exactly one report": (">=", 0.95), "category": (">=", 0.90),
    "urgency": (">=", 0.90), "location": (">=", 0.90), "description": (">=", 0.90), "follow-up asked": (">=", 0.90),
    "extra turns": ("<=", 1.0), "false starts": ("<=", 0.10),
}
# What the assistant says when it has begun a report (a draft's question or summary, or an offer to file one).
DRAFTING = ("请确认以下上报信息", "具体在哪里", "具体位置", "发生了什么问题", "描述一下您要反映的问题", "回复“1”",
            "回复1", "整理成上报工单")
ASKS_PLACE = ("具体在哪里", "具体位置")
ASKS_PROBLEM = ("发生了什么问题", "描述一下您要反映的问题")
SUBMITTED = "工单号"


@dataclass
class Chat:
    replies: list[str] = field(default_factory=list)
    typed_trigger: bool = False
    trigger_at: int = 0  # how many replies had come when the resident typed 我要上报
    asked: set[str] = field(default_factory=set)
    extra: int = 0


def gold_of(row: dict[str, Any]) -> dict[str, Any]:
    """Held-out rows carry everything; dev rows (the team's older format) get the same fields derived."""
    g = dict(row["gold"])
    g.setdefault("report", True)
    if g["report"]:
        said = [t.get("content") or t.get("recognition") or "" for t in row["turns"] if t["type"] in ("text", "voice")]
        g.setdefault("replies", {"location": g["location_contains"],
                                 "problem": "，".join(s for s in said if any(w in s for w in g["description_contains"]))
                                 or "，".join(g["description_contains"])})
        if "missing" not in g:
            g["missing"] = "location" if g.get("needs_followup") and not any(
                g["location_contains"] in (t.get("content") or t.get("recognition") or t.get("label") or "")
                for t in row["turns"]) else None
    return g


def converse(send: Callable[[dict[str, Any]], str], row: dict[str, Any]) -> Chat:
    """Play one transcript through `send` (a turn in, the assistant's reply out) as a patient resident."""
    chat = Chat()
    gold = gold_of(row)
    for turn in row["turns"]:
        chat.replies.append(send(turn) or "")
    if not gold["report"]:
        return chat
    replies = gold.get("replies", {})
    for _ in range(6):  # the patient resident's side, until the report is filed (or nothing more can be done)
        last = chat.replies[-1] if chat.replies else ""
        if SUBMITTED in last:
            break
        if "请确认以下上报信息" in last:
            text = "确认"
        elif "回复“1”" in last or "回复1" in last:
            text = "1"
        elif any(p in last for p in ASKS_PLACE):
            chat.asked.add("location")
            text = replies.get("location") or "就在这里"
        elif any(p in last for p in ASKS_PROBLEM):
            chat.asked.add("problem")
            text = replies.get("problem") or "有问题"
        elif not chat.typed_trigger:
            chat.typed_trigger = True
            chat.trigger_at = len(chat.replies)
            text = "我要上报"
        else:
            break
        chat.extra += 1
        chat.replies.append(send({"type": "text", "content": text}) or "")
    return chat


def started_by_assistant(chat: Chat) -> bool:
    """A draft, a question about it or an offer came before the resident typed 我要上报 (if they had to)."""
    before = chat.replies[: chat.trigger_at] if chat.typed_trigger else chat.replies
    return any(any(m in r for m in DRAFTING) for r in before)


def score(rows: list[dict[str, Any]], chats: dict[str, Chat], reports: dict[str, list[dict[str, Any]]],
          misses: list[str] | None = None) -> dict[str, float]:
    """The measures over the transcripts; `misses` (when given) gets a line per transcript that misses one."""
    misses = misses if misses is not None else []
    counts: dict[str, list[float]] = {k: [] for k in BARS}
    for row in rows:
        g = gold_of(row)
        chat = chats[row["id"]]
        mine = reports.get(row["id"], [])
        if not g["report"]:
            begun = any(any(m in r for m in DRAFTING) for r in chat.replies) or bool(mine)
            counts["false starts"].append(float(begun))
            if begun:
                misses.append(f"  {row['id']} false start: {chat.replies[:2]}")
            continue
        started = started_by_assistant(chat)
        counts["started by the assistant"].append(float(started))
        one = len(mine) == 1
        if g.get("missing") is None:
            counts["exactly one report"].append(float(one))
        else:
            counts["follow-up asked"].append(float(("location" if g["missing"] == "location" else "problem")
                                                   in chat.asked))
        r = mine[0] if mine else None
        loc = normalize_query(f"{r['location'].get('text', '')} {r['location'].get('label') or ''}") if r else ""
        desc = normalize_query(r["description"]) if r else ""
        checks = {
            "category": bool(r and r["category"] == g["category"]),
            "urgency": bool(r and r["urgency"] == g["urgency"]),
            "location": bool(r and normalize_query(g["location_contains"]) in loc),
            "description": bool(r and all(normalize_query(w) in desc for w in g["description_contains"])),
        }
        for k, ok in checks.items():
            counts[k].append(float(ok))
        if g.get("missing") is None:  # a transcript missing a piece needs its answer too, by design
            counts["extra turns"].append(float(chat.extra))
        if not all(checks.values()) or not started or chat.extra > 1:
            wrong = [k for k, v in checks.items() if not v]
            filed = r and {k: r[k] for k in ("category", "urgency", "description")} | {"loc": loc}
            misses.append(f"  {row['id']} started={started} extra={chat.extra} missing={g.get('missing')} "
                          f"wrong={wrong} -> {filed}"
                          f" want {g['category']}/{g['urgency']}/{g['location_contains']}/{g['description_contains']}")
    return {k: sum(v) / len(v) for k, v in counts.items() if v} | {"n": float(len(rows))}



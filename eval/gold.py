"""Look up and check gold articles for eval data written by hand.

    python -m eval.gold docs [CATEGORY]          # the documents of a category (or all), from the manifest
    python -m eval.gold articles FILE            # every article number of a document with its first words
    python -m eval.gold show FILE N              # one article, whole (FILE is relative to ../shared/corpus)
    python -m eval.gold dump CATEGORY            # every article of a category, whole, keyed FILE#N
    python -m eval.gold coverage QUESTIONS.jsonl CATEGORY   # articles of the category without a lay question
    python -m eval.gold check DATA.jsonl ...     # every gold article exists, every key point is in one of them

A question file's rows carry `gold: [{"file": ..., "article_no": N}]` and `key_points: [...]`; `check` reads the
articles straight from the corpus (no index) and exits 1 when a row is wrong, naming the row.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from assistant.ingest.statute import Article, parse

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


@cache
def articles(file: str) -> dict[int, Article]:
    parsed = parse((CORPUS / file).read_text(encoding="utf-8").replace("\r\n", "\n"))
    out: dict[int, Article] = {}
    for a in parsed.articles:
        if a.sub is None:
            out.setdefault(a.no, a)
    return out


def _squash(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


def check_row(row: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    gold = row.get("gold") or []
    if not gold:
        return ["no gold articles"]
    texts: list[str] = []
    for g in gold:
        path = CORPUS / g["file"]
        if not path.is_file():
            problems.append(f"no such file {g['file']}")
            continue
        art = articles(g["file"]).get(int(g["article_no"]))
        if art is None:
            problems.append(f"{g['file']} has no article {g['article_no']}")
            continue
        texts.append(_squash(art.text))
    for point in row.get("key_points") or []:
        if not any(_squash(point) in t for t in texts):
            problems.append(f"key point not verbatim in any gold article: {point}")
    return problems


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd, *rest = argv
    if cmd == "docs":
        manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
        for cat in manifest["categories"]:
            if rest and cat["id"] != rest[0]:
                continue
            print(f"## {cat['id']} {cat['name_zh']}")
            for d in cat["documents"]:
                print(f"  {d['file']}  ({d['level']})")
        return 0
    if cmd == "articles":
        for no, art in articles(rest[0]).items():
            print(no, art.text.replace("\n", " ")[:80])
        return 0
    if cmd == "dump":
        manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
        for cat in manifest["categories"]:
            if cat["id"] != rest[0]:
                continue
            for d in cat["documents"]:
                print(f"=== {d['file']} ({d['title']})")
                for no, art in articles(d["file"]).items():
                    print(f"[{d['file']}#{no}] {art.text}")
        return 0
    if cmd == "coverage":
        manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
        have = set()
        for line in Path(rest[0]).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("questions"):
                    have.add((row["file"], int(row["article_no"])))
        missing = [(d["file"], no) for cat in manifest["categories"] if cat["id"] == rest[1]
                   for d in cat["documents"] for no in articles(d["file"]) if (d["file"], no) not in have]
        for f, no in missing:
            print(f"missing {f}#{no}")
        print("ok" if not missing else f"{len(missing)} article(s) without a question")
        return 1 if missing else 0
    if cmd == "show":
        found = articles(rest[0]).get(int(rest[1]))
        print(found.text if found else f"no article {rest[1]} in {rest[0]}")
        return 0 if found else 1
    if cmd == "check":
        bad = 0
        for name in rest:
            for i, line in enumerate(Path(name).read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if "gold" not in row:
                    continue
                for p in check_row(row):
                    bad += 1
                    print(f"{name}:{i} {row.get('id')}: {p}")
        print("ok" if not bad else f"{bad} problem(s)")
        return 1 if bad else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

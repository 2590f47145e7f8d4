"""The question field: lay questions that each article of the shared corpus answers (corpus/questions/, written by
the procedure in its README), read at ingest and indexed with the article as their own weighted part of its
sparse vector: a resident's words meet the statute's through questions written in residents' words. The article's
text (what a reader sees and what is cited) is unchanged."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class QuestionField:
    by_article: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    digest: str = "-"

    def get(self, file: str, article_no: int | None) -> list[str]:
        if article_no is None:
            return []
        return self.by_article.get((file, article_no), [])

    def __len__(self) -> int:
        return len(self.by_article)

    @classmethod
    def load(cls, folder: Path | None) -> QuestionField:
        """Every `*.jsonl` of the folder; an unreadable row is skipped with a warning, a missing folder is empty."""
        if folder is None or not folder.is_dir():
            return cls()
        out: dict[tuple[str, int], list[str]] = {}
        digest = hashlib.sha256()
        for path in sorted(folder.glob("*.jsonl")):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    key = (str(row["file"]), int(row["article_no"]))
                    questions = [str(q).strip() for q in row["questions"] if str(q).strip()]
                except (ValueError, KeyError, TypeError) as exc:
                    logger.warning("question field %s:%d skipped: %s", path.name, i, exc)
                    continue
                out.setdefault(key, []).extend(questions)
                digest.update(line.encode("utf-8"))
        return cls(out, digest.hexdigest()[:12] if out else "-")

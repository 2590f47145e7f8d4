"""The incremental ingest pipeline.

State lives in the index itself: every point carries its file, the file's hash and its own content hash.
A run compares the folder with that state: an unchanged file costs one hash; a changed file is re-parsed and
only chunks whose content hash changed are re-encoded and upserted (the others get the new file hash stamped);
points of removed files and of vanished articles are deleted. A file that cannot be read or has nothing to
index is reported and skipped, and its existing points are left untouched.

Limits (issue 26 #7), so that one file cannot flood the index: within a file, chunks whose text is the same after
whitespace is collapsed are indexed once (the first; the count dropped is a warning in the report); a file with
more than `MAX_CHUNKS_PER_FILE` distinct chunks is skipped. Across files the same text is kept, copies included
(laws quote each other, and each quotation cites its own law; one law filed under two categories is two files,
each with its category). Manifest problems reach the report as warnings too.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from assistant.domain import Chunk, IngestReport, SourceDocument
from assistant.errors import DocumentError
from assistant.ingest import loaders, statute
from assistant.ingest.chunker import Chunker
from assistant.ingest.questions import QuestionField
from assistant.ports import Embedder, Index, SparseEncoder

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str], None]
_FLUSH_AT = 2048
# The largest real documents chunk into 526 (民法典·合同编, shared corpus) and 695 (a STARD judicial
# interpretation) chunks of 500 characters; ten times the former still leaves a flood no room.
MAX_CHUNKS_PER_FILE = 5000
_MOSTLY = 0.5  # a file whose chunks are more than half duplicates (and at least _MOSTLY_MIN) is called out
_MOSTLY_MIN = 20


@dataclass(slots=True)
class RunReport(IngestReport):
    """The counts, plus what an operator should look at though nothing was skipped for it: (file, what)."""

    warnings: list[tuple[str, str]] = field(default_factory=list)


class Ingestor:
    def __init__(
        self,
        index: Index,
        encoder: SparseEncoder,
        embedder: Embedder | None,
        chunker: Chunker,
        taxonomy: dict[str, str],
        questions: QuestionField | None = None,
        questions_weight: float = 0.5,
    ) -> None:
        self.index = index
        self.questions = questions or QuestionField()
        self.questions_weight = questions_weight
        self.encoder = encoder
        self.embedder = embedder if index.has_dense else None
        self.chunker = chunker
        self.taxonomy = taxonomy

    @property
    def signature(self) -> str:
        dense = self.embedder.name if self.embedder else "-"
        base = f"{self.encoder.signature}|{dense}|{self.chunker.max_chars}"
        if len(self.questions):  # the question field's version: a changed field re-encodes its articles
            base += f"|q:{self.questions.digest}:{self.questions_weight:g}"
        return base

    def _stamp(self, file_hash: str) -> str:
        return hashlib.sha1(f"{file_hash}|{self.signature}".encode()).hexdigest()

    def chunk_document(self, src: SourceDocument) -> list[Chunk]:
        parsed = statute.parse(src.text)
        chunks = self.chunker.chunks(src, parsed, self.signature)
        if not chunks:
            raise DocumentError("no articles or text to index", file=src.file)
        return chunks

    def run(
        self, root: Path, on_file: ProgressFn | None = None, total: Callable[[int], None] | None = None
    ) -> RunReport:
        """Bring the index in line with the folder. Returns counts of what changed, skipped files and warnings."""
        started = time.perf_counter()
        root = root.resolve()
        if not root.is_dir():
            raise DocumentError("not a folder", file=str(root))
        report = RunReport()
        state = self.index.scroll_state(str(root))
        if total is not None:
            total(len(loaders.discover(root)))
        pending = _Batch()
        seen_files: set[str] = set()
        for item in loaders.load(root, self.taxonomy, partial(_warn, report)):
            if isinstance(item, DocumentError):
                name = item.file or "?"
                report.skipped.append((name, item.reason))
                seen_files.add(name)  # a bad file keeps whatever it had in the index
                logger.warning("skipped %s", item)
                if on_file:
                    on_file(name)
                continue
            seen_files.add(item.file)
            # The stamp covers the encoders too: a new dictionary, lexicon or model re-encodes every file.
            item = replace(item, file_hash=self._stamp(item.file_hash))
            report.documents += 1
            old = state.get(item.file, {})
            if old and all(fh == item.file_hash for _, fh in old.values()):
                report.unchanged += len(old)
            else:
                self._diff_file(item, old, pending, report)
            if len(pending.chunks) >= _FLUSH_AT:
                self._write(pending)
                pending = _Batch()
            if on_file:
                on_file(item.file)
        self._write(pending)
        gone = [pid for file, points in state.items() if file not in seen_files for pid in points]
        self.index.delete(gone)
        report.deleted += len(gone)
        report.seconds = time.perf_counter() - started
        return report

    def _diff_file(
        self, src: SourceDocument, old: dict[str, tuple[str, str]], pending: _Batch, report: RunReport
    ) -> None:
        try:
            chunks = self._limited(src, self.chunk_document(src), report)
        except DocumentError as exc:
            report.skipped.append((src.file, exc.reason))
            report.documents -= 1
            logger.warning("skipped %s", exc)
            return
        restamp: list[str] = []
        for chunk in chunks:
            previous = old.get(chunk.point_id)
            if previous is None:
                report.added += 1
                pending.chunks.append(chunk)
            elif previous[0] != chunk.content_hash:
                report.updated += 1
                pending.chunks.append(chunk)
            else:
                report.unchanged += 1
                if previous[1] != src.file_hash:
                    restamp.append(chunk.point_id)
        # Re-stamping and deleting wait until the new chunks are written: until then the file still looks
        # changed, so a run that dies half-way is simply redone next time.
        pending.restamp.append((restamp, src.file_hash))
        current = {c.point_id for c in chunks}
        vanished = [pid for pid in old if pid not in current]
        pending.delete.extend(vanished)
        report.deleted += len(vanished)

    @staticmethod
    def _limited(src: SourceDocument, chunks: list[Chunk], report: RunReport) -> list[Chunk]:
        """The file's chunks with repeated text dropped; raises DocumentError past the per-file cap."""
        kept = unique_chunks(chunks)
        if len(kept) > MAX_CHUNKS_PER_FILE:
            raise DocumentError(f"{len(kept):,} chunks, more than the {MAX_CHUNKS_PER_FILE:,} one document may "
                                "have: not indexed", file=src.file)
        dropped = len(chunks) - len(kept)
        if dropped:
            what = (f"{dropped:,} duplicate chunks of {len(chunks):,} dropped (the same text repeated in the file is "
                    f"indexed once: {len(kept):,} kept)")
            if dropped > _MOSTLY * len(chunks) and dropped >= _MOSTLY_MIN:
                what += "; the file is mostly repeated text, check it"
            _warn(report, src.file, what)
        return kept

    def _write(self, batch: _Batch) -> None:
        if batch.chunks:
            texts = [c.index_text() for c in batch.chunks]
            sparse = [self.encoder.encode_document(t, extra=self.questions.get(c.file, c.article_no),
                                                   extra_weight=self.questions_weight)
                      for t, c in zip(texts, batch.chunks, strict=True)]
            dense = self.embedder.embed_documents(texts) if self.embedder else None
            self.index.upsert(batch.chunks, sparse, dense)
        for ids, file_hash in batch.restamp:
            self.index.set_file_hash(ids, file_hash)
        self.index.delete(batch.delete)


def _warn(report: RunReport, file: str, what: str) -> None:
    report.warnings.append((file, what))
    logger.info("warning: %s: %s", file, what)  # the report is what the operator reads; the log is for --verbose


def unique_chunks(chunks: list[Chunk]) -> list[Chunk]:
    """The first chunk of each text, whitespace collapsed: a repeated passage is one passage."""
    seen: set[str] = set()
    out: list[Chunk] = []
    for chunk in chunks:
        key = " ".join(chunk.text.split())
        if key not in seen:
            seen.add(key)
            out.append(chunk)
    return out


@dataclass(slots=True)
class _Batch:
    chunks: list[Chunk] = field(default_factory=list)
    restamp: list[tuple[list[str], str]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)

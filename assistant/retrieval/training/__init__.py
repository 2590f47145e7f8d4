"""Training of the learned retrieval artefact (`gridworker learn`): the learner (`learn`), the dense model's query
map (`adapter`) and STARD's training questions (`stard`). Only the maintainer's `learn` command imports it; the
service reads the artefact it writes (`assistant/retrieval/learned.py`).

The training files are read from a source checkout: STARD from `$GRIDWORKER_EVAL_DIR/stard`, the resident-voice
train questions from the checkout's `eval/data/` (`CHECKOUT`), which the wheel does not ship."""

from __future__ import annotations

from pathlib import Path

# The source checkout holding this package (assistant/retrieval/training -> the project root): eval/data lives there.
CHECKOUT = Path(__file__).resolve().parents[3]

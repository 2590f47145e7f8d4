"""What a resident reads about their reports, on any channel: a report's progress line, and the notice of a status
change (the outbox hands it to the channel's `Notifier`). The texts are in prompts/messages.toml ([report])."""

from __future__ import annotations

from typing import Any

from assistant.domain import STATUS_ZH
from assistant.privacy import mask
from assistant.prompts import Prompts, default


def progress_line(report: dict[str, Any], prompts: Prompts | None = None) -> str:
    p = prompts or default()
    return p.say("report.progress_line", ticket=report["ticket"], status=_status(report),
                 description=mask(report["description"])[:20],  # masked before it is cut
                 updated=report["updated_at"][:16].replace("T", " "))


def status_notice(report: dict[str, Any], note: str = "", prompts: Prompts | None = None) -> str:
    """The notice of a report's new status, with the center's note (masked) and, once resolved, how to rate it."""
    p = prompts or default()
    text = p.say("report.notice", ticket=report["ticket"], status=_status(report))
    if note:
        text += "\n" + p.say("report.notice_note", note=mask(note))
    if report["status"] == "resolved":
        text += "\n" + p.say("report.notice_rate")
    return text


def _status(report: dict[str, Any]) -> str:
    status = str(report["status"])
    return STATUS_ZH.get(status, status)

"""The neutral inbound message: what a resident sent, whatever the channel. A channel's adapter turns its own
protocol (WeChat's XML push, the webhook's JSON) into one `Message` and hands it to the front desk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assistant.domain import UserRef

Kind = Literal["text", "voice", "image", "location", "link", "event", "other"]


@dataclass(frozen=True, slots=True)
class Place:
    """A location the resident sent (a map pin): coordinates and the label the map gave it."""

    latitude: float
    longitude: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """One message from a resident. `text` is what they wrote (or what speech recognition heard, for a voice
    message; empty when it heard nothing); `event` and `key` are a channel's events (subscribe, a menu click and
    its key: POLICY, REPORT, PROGRESS); `title` is a shared link's."""

    user: UserRef
    kind: Kind
    text: str = ""
    place: Place | None = None
    media_id: str = ""
    event: str = ""
    key: str = ""
    title: str = ""

    @property
    def channel(self) -> str:
        return self.user.channel

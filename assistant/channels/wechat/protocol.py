"""The WeChat Official Account server protocol (../shared/wechat/PROTOCOL.md), on top of wechatpy.

Signatures are computed here and compared in constant time (wechatpy compares with `!=`); decryption uses
wechatpy's PrpCrypto with the current EncodingAESKey, then the previous one (key rotation). Anything malformed —
bad XML, a DTD or entities, a missing field, an oversized body, a stale timestamp — is a `ProtocolError` with the
HTTP status to answer (400 or 403), never an unhandled exception.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from typing import Protocol as TypingProtocol
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.replies import TextReply

from assistant.errors import DependencyUnavailable

logger = logging.getLogger(__name__)
Mode = str  # "plain" | "compat" | "safe"


class ProtocolError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(expected_parts: tuple[str, ...], given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(signature(*expected_parts), (given or "").lower())


@dataclass(frozen=True, slots=True)
class Inbound:
    """One push, verified and parsed."""

    mode: Mode
    message: Any  # a wechatpy message or event object
    fields: dict[str, str]  # the decrypted XML's fields, as sent
    nonce: str
    timestamp: str
    checked: bool = True  # False: the nonce store was unreachable, so the replay check could not run

    @property
    def openid(self) -> str:
        return self.fields.get("FromUserName", "")

    @property
    def msg_type(self) -> str:
        return self.fields.get("MsgType", "").lower()

    @property
    def dedupe_key(self) -> str:
        """Messages by MsgId; events (which have none) by FromUserName + CreateTime."""
        if self.fields.get("MsgId"):
            return f"msg:{self.fields['MsgId']}"
        return f"evt:{self.openid}:{self.fields.get('CreateTime', '')}:{self.fields.get('Event', '')}"


RETRY_WINDOW_S = 60  # WeChat retries a push twice, 5 s apart; the same bytes after this are a replay


class Nonces(TypingProtocol):
    """Remembers the pushes seen inside the timestamp window (the channel store: SQLite or Redis)."""

    def claim(self, key: str, owner: str, lease_s: float) -> bool: ...

    def owner(self, key: str) -> str | None: ...


class Protocol:
    """WeChat's server protocol in one of its three modes (`mode`: plain, compat, safe; default: safe with an
    EncodingAESKey, else plain). Plain accepts only unencrypted pushes; compat and safe only pushes whose `Encrypt`
    carries a valid `msg_signature` (the plain fields beside it in compat mode are ignored). With `nonces`, a
    (timestamp, nonce) seen in the window with another body is a replay and is refused; the same body again is
    WeChat's retry and passes (the channel dedupes it by MsgId)."""

    def __init__(
        self, token: str, aes_key: str | None = None, app_id: str = "", previous_aes_key: str | None = None,
        timestamp_window_s: int = 300, max_body_bytes: int = 64 * 1024, mode: Mode | None = None,
        nonces: Nonces | None = None,
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.keys = [self._key(k) for k in (aes_key, previous_aes_key) if k]
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.window = timestamp_window_s
        self.max_body = max_body_bytes
        self.mode: Mode = mode or ("safe" if aes_key else "plain")
        if self.mode not in ("plain", "compat", "safe"):
            raise ValueError(f"unknown WeChat mode {self.mode!r} (plain, compat or safe)")
        if self.mode != "plain" and not aes_key:
            raise ValueError(f"WeChat {self.mode} mode needs the EncodingAESKey")
        self.nonces = nonces

    @staticmethod
    def _key(encoding_aes_key: str) -> bytes:
        key = base64.b64decode(encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("EncodingAESKey must be 43 characters (32 bytes)")
        return key

    # -- GET /wechat --------------------------------------------------------------------------------------------
    def verify_url(self, sig: str | None, timestamp: str | None, nonce: str | None, echostr: str | None) -> str:
        if not (sig and timestamp and nonce and echostr is not None):
            raise ProtocolError(400, "missing query parameters")
        if not signature_ok((self.token, timestamp, nonce), sig):
            raise ProtocolError(403, "bad signature")
        self._fresh(timestamp)  # a captured verification URL is not replayable after the window
        return echostr

    def _fresh(self, timestamp: str, now: float | None = None) -> None:
        try:
            skew = abs((now or time.time()) - int(timestamp))
        except ValueError as exc:
            raise ProtocolError(400, "bad timestamp") from exc
        if skew > self.window:
            raise ProtocolError(403, f"timestamp {skew:.0f} s from now")

    # -- POST /wechat -------------------------------------------------------------------------------------------
    def parse(self, query: dict[str, str], body: bytes, now: float | None = None) -> Inbound:
        if len(body) > self.max_body:
            raise ProtocolError(400, f"body of {len(body)} bytes")
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not signature_ok((self.token, timestamp, nonce), query.get("signature")):
            raise ProtocolError(403, "bad signature")
        self._fresh(timestamp, now)
        checked = self._not_replayed(timestamp, nonce, body)
        outer = self._xml(body)
        mode: Mode = "plain"
        try:
            xml_text = body.decode("utf-8", errors="strict") if isinstance(body, bytes) else str(body)
        except UnicodeDecodeError as exc:
            raise ProtocolError(400, "body is not UTF-8") from exc
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        if encrypted and self.mode == "plain":
            raise ProtocolError(400, "encrypted push, but this account is configured for plain mode")
        if not encrypted and self.mode != "plain":
            raise ProtocolError(403, f"unencrypted push refused in {self.mode} mode")
        if encrypted:
            encrypt = outer.get("Encrypt")
            if not encrypt or not self.keys:
                raise ProtocolError(400, "encrypted push without Encrypt, or no EncodingAESKey configured")
            if not signature_ok((self.token, timestamp, nonce, encrypt), query.get("msg_signature")):
                raise ProtocolError(403, "bad msg_signature")
            xml_text = self._decrypt(encrypt)
            mode = "compat" if "MsgType" in outer else "safe"
        fields = self._xml(xml_text.encode("utf-8"))
        if not fields.get("MsgType") or not fields.get("FromUserName"):
            raise ProtocolError(400, "not a WeChat message")
        try:
            message = parse_message(xml_text)
        except (ExpatError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ProtocolError(400, f"unparseable message: {exc}") from exc
        return Inbound(mode, message, fields, nonce, timestamp, checked)

    def _not_replayed(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """False when the nonce store is unreachable: the push is parsed (so that it can be answered) but marked
        unchecked, and the channel processes nothing of it."""
        if self.nonces is None:
            return True
        key, digest, now = f"nonce:{timestamp}:{nonce}", hashlib.sha256(body).hexdigest(), time.time()
        try:
            if self.nonces.claim(key, f"{digest}:{now:.0f}", 2 * self.window + 60):
                return True
            seen = self.nonces.owner(key) or ""
        except DependencyUnavailable as exc:
            logger.error("wechat push not checked for replay: %s", exc)
            return False
        first_digest, _, first_at = seen.partition(":")
        if first_digest != digest:
            raise ProtocolError(403, "replayed signature with another body")
        if not first_at.isdigit() or now - int(first_at) > RETRY_WINDOW_S:
            # WeChat's retries of one push come within about 15 s; the same bytes later are a replay, and would get
            # the resident's reply again (a retry does: a passive reply is repeated until WeChat has it)
            raise ProtocolError(403, "replayed push")
        return True

    def _xml(self, body: bytes) -> dict[str, str]:
        upper = body.upper()
        if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:  # anywhere in the body, not only its head
            raise ProtocolError(400, "DTDs and entities are refused")
        try:
            doc = xmltodict.parse(body, disable_entities=True)
        except (ExpatError, ValueError, TypeError) as exc:
            raise ProtocolError(400, f"bad XML: {exc}") from exc
        root = doc.get("xml") if isinstance(doc, dict) else None
        if not isinstance(root, dict):
            raise ProtocolError(400, "no <xml> root")
        return {k: v for k, v in root.items() if isinstance(v, str)}

    def _decrypt(self, encrypt: str) -> str:
        last: Exception | None = None
        for key in self.keys:  # the current key, then the previous one (rotation)
            try:
                text = PrpCrypto(key).decrypt(encrypt, self.app_id)
                return text.decode("utf-8") if isinstance(text, bytes) else str(text)
            except Exception as exc:  # noqa: BLE001 - wechatpy raises assorted errors for a wrong key
                last = exc
        raise ProtocolError(400, f"cannot decrypt: {last}")

    # -- replies ------------------------------------------------------------------------------------------------
    def reply(self, inbound: Inbound, text: str) -> str:
        """A passive text reply in the push's mode (encrypted in the compat and safe modes)."""
        xml = TextReply(
            source=inbound.fields.get("ToUserName", ""), target=inbound.openid, content=text
        ).render()
        if inbound.mode == "plain" or self.crypto is None:
            return str(xml)
        return str(self.crypto.encrypt_message(xml, secrets.token_hex(8), str(int(time.time()))))


def split_utf8(text: str, limit: int = 2048) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, cut at line or sentence ends when possible, never inside a character."""
    pieces: list[str] = []
    rest = text
    while len(rest.encode("utf-8")) > limit:
        cut, size = 0, 0
        for i, ch in enumerate(rest):
            size += len(ch.encode("utf-8"))
            if size > limit:
                break
            cut = i + 1
        window = rest[:cut]
        soft = max(window.rfind("\n"), window.rfind("。"), window.rfind("；"))
        if soft > cut // 2:
            cut = soft + 1
        pieces.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:].lstrip("\n")
    if rest:
        pieces.append(rest)
    return pieces

"""The WeChat side of the protocol, written from PROTOCOL.md with hashlib and cryptography (not wechatpy), so the
adapter is checked against an independent implementation: signing, encrypting pushes in the three modes,
decrypting replies, and pushing with WeChat's retries."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import xmltodict
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def encrypt(plain: str, encoding_aes_key: str, app_id: str) -> str:
    key = aes_key(encoding_aes_key)
    body = plain.encode()
    data = os.urandom(16) + struct.pack(">I", len(body)) + body + app_id.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def decrypt(encrypted: str, encoding_aes_key: str) -> tuple[str, str]:
    key = aes_key(encoding_aes_key)
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    data = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    data = data[: -data[-1]]
    length = struct.unpack(">I", data[16:20])[0]
    return data[20 : 20 + length].decode(), data[20 + length :].decode()


def text_xml(openid: str, content: str, msg_id: int, to: str = "gh_test", created: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def event_xml(openid: str, event: str, key: str = "", created: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")


def location_xml(openid: str, lat: float, lng: float, label: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[location]]></MsgType>"
            f"<Location_X>{lat}</Location_X><Location_Y>{lng}</Location_Y><Scale>15</Scale>"
            f"<Label><![CDATA[{label}]]></Label><MsgId>{msg_id}</MsgId></xml>")


def image_xml(openid: str, media_id: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
            f"<PicUrl><![CDATA[http://example.invalid/p.jpg]]></PicUrl><MediaId><![CDATA[{media_id}]]></MediaId>"
            f"<MsgId>{msg_id}</MsgId></xml>")


@dataclass
class FakeWeChat:
    """Pushes messages to the adapter as WeChat does: signed, optionally encrypted, retried on timeouts."""

    url: str
    token: str
    encoding_aes_key: str | None = None
    app_id: str = "wx_test_app"
    mode: str = "plain"  # plain | compat | safe
    timeout_s: float = 5.0
    attempts: int = 3
    log: list[dict[str, object]] = field(default_factory=list)

    def request(self, xml: str, timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
        ts, nonce = str(timestamp or int(time.time())), str(int.from_bytes(os.urandom(4), "big"))
        query = {"signature": sha1_sorted(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "x"}
        body = xml
        if self.mode != "plain":
            assert self.encoding_aes_key
            enc = encrypt(xml, self.encoding_aes_key, self.app_id)
            query.update(encrypt_type="aes", msg_signature=sha1_sorted(self.token, ts, nonce, enc))
            plain_fields = xml[len("<xml>") : -len("</xml>")]
            inner = plain_fields if self.mode == "compat" else "<ToUserName><![CDATA[gh_test]]></ToUserName>"
            body = f"<xml>{inner}<Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
        return query, body.encode()

    def push(self, xml: str) -> str | None:
        """One message with WeChat's retries: the reply text (decrypted), or None when every attempt timed out."""
        query, body = self.request(xml)
        for attempt in range(self.attempts):
            t = time.monotonic()
            try:
                r = httpx.post(f"{self.url}?{urlencode(query)}", content=body, timeout=self.timeout_s)
            except httpx.TimeoutException:
                self.log.append({"attempt": attempt, "timeout": True, "s": time.monotonic() - t})
                continue
            self.log.append({"attempt": attempt, "status": r.status_code, "s": time.monotonic() - t})
            if r.status_code != 200:
                return f"HTTP {r.status_code}"
            return self.read_reply(r.text)
        return None

    def read_reply(self, text: str) -> str:
        if text in ("", "success"):
            return text
        doc = xmltodict.parse(text)["xml"]
        if "Encrypt" in doc:
            assert self.encoding_aes_key
            assert sha1_sorted(self.token, doc["TimeStamp"], doc["Nonce"], doc["Encrypt"]) == doc["MsgSignature"]
            plain, app_id = decrypt(doc["Encrypt"], self.encoding_aes_key)
            assert app_id == self.app_id
            doc = xmltodict.parse(plain)["xml"]
        return str(doc.get("Content", ""))


def voice_xml(openid: str, recognition: str | None, msg_id: int) -> str:
    rec = f"<Recognition><![CDATA[{recognition}]]></Recognition>" if recognition is not None else ""
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
            f"<MediaId><![CDATA[voice-media]]></MediaId><Format><![CDATA[amr]]></Format>{rec}"
            f"<MsgId>{msg_id}</MsgId></xml>")

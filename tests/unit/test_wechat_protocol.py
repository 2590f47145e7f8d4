"""PROTOCOL.md's test vectors and the adapter's refusals of bad pushes."""

from __future__ import annotations

import time

import pytest

from assistant.channels.wechat.protocol import Protocol, ProtocolError, signature, signature_ok, split_utf8
from tests.wechat_fake import FakeWeChat, decrypt, encrypt, text_xml

pytestmark = pytest.mark.unit
KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
WECHATPY_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymz"
    "xh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hI"
    "iOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEv"
    "ccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
TENCENT_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9"
    "FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3y"
    "t+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v"
    "6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_plain_signature_vectors() -> None:
    assert signature("test", "1410685589", "test") == "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    assert not signature_ok(("test", "1410685589", "test"), "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe")
    assert signature("AAAAA", "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert signature("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"


def test_url_verification_returns_echostr() -> None:
    p = Protocol("AAAAA", timestamp_window_s=10**10)  # the protocol's vector is from 2024
    sig = "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert p.verify_url(sig, "1714036504", "1514711492", "4375120948345356249") == "4375120948345356249"
    with pytest.raises(ProtocolError) as err:
        p.verify_url(sig[:-1] + "0", "1714036504", "1514711492", "4375120948345356249")
    assert err.value.status == 403


def test_wechatpy_decryption_vector() -> None:
    p = Protocol("123456", KEY, "wx49f0ab532d5d035a", timestamp_window_s=10**10)
    query = {"signature": signature("123456", "1411525903", "461056294"), "timestamp": "1411525903",
             "nonce": "461056294", "encrypt_type": "aes", "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"}
    body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{WECHATPY_ENCRYPT}]]></Encrypt></xml>"
    inbound = p.parse(query, body.encode())
    assert inbound.mode == "safe" and inbound.msg_type == "text"
    assert inbound.message.content == "test" and inbound.openid == "messense"
    assert inbound.dedupe_key == "msg:4363689963896700987"


def test_tencent_sample_and_key_rotation() -> None:
    old_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    p = Protocol("spamtest", KEY, "wx2c2769f8efd9abc2", previous_aes_key=old_key, timestamp_window_s=10**10)
    query = {"signature": signature("spamtest", "1409735669", "1320562132"), "timestamp": "1409735669",
             "nonce": "1320562132", "encrypt_type": "aes", "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa"}
    body = (f"<xml><ToUserName><![CDATA[gh]]></ToUserName><MsgType><![CDATA[text]]></MsgType>"
            f"<Encrypt><![CDATA[{TENCENT_ENCRYPT}]]></Encrypt></xml>")
    inbound = p.parse(query, body.encode())  # the current key fails, the previous one (rotation) decrypts
    assert inbound.mode == "compat" and inbound.message.content == "abcdteT"
    assert inbound.openid == "oyORnuP8q7ou2gfYjqLzSIWZf0rs" and inbound.dedupe_key == "msg:6054768590064713728"


def test_our_cipher_matches_the_fake() -> None:
    enc = encrypt("<xml>hi</xml>", KEY, "wxapp")
    assert decrypt(enc, KEY) == ("<xml>hi</xml>", "wxapp")


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_fake_wechat_pushes_parse_in_every_mode(mode: str) -> None:
    fake = FakeWeChat("http://unused", "tok", KEY, "wxapp", mode)
    query, body = fake.request(text_xml("openid-1", "低保怎么申请", 42))
    p = Protocol("tok", KEY, "wxapp", mode=mode)
    inbound = p.parse(query, body)
    assert inbound.mode == mode and inbound.message.content == "低保怎么申请"
    reply = p.reply(inbound, "您好")
    assert fake.read_reply(reply) == "您好"


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"<xml><a>", 400), (b"not xml at all", 400),
     (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><xml><MsgType>&e;</MsgType></xml>', 400),
     (b"<xml><ToUserName>x</ToUserName></xml>", 400), (b"<xml>" + b"a" * 70000 + b"</xml>", 400),
     # issue 26 #12: a DTD after the first 2,048 bytes, and a body that is not UTF-8
     (b"<!--" + b"a" * 3000 + b'--><!DOCTYPE xml SYSTEM "http://example.invalid/x.dtd"><xml><ToUserName>gh'
      b"</ToUserName><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>x</Content>"
      b"<MsgId>1</MsgId></xml>", 400),
     (b'<?xml version="1.0" encoding="ISO-8859-1"?><xml><ToUserName>gh</ToUserName><FromUserName>o\xe9'
      b"</FromUserName><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>", 400)],
)
def test_bad_bodies_are_400(body: bytes, status: int) -> None:
    fake = FakeWeChat("http://unused", "tok")
    query, _ = fake.request("<xml/>")
    with pytest.raises(ProtocolError) as err:
        Protocol("tok").parse(query, body)
    assert err.value.status == status


def test_a_stale_url_verification_is_refused() -> None:
    """Issue 26 #12: echostr verification accepted a 30-day-old timestamp."""
    p = Protocol("AAAAA")
    with pytest.raises(ProtocolError) as err:
        p.verify_url("f464b24fc39322e44b38aa78f5edd27bd1441696", "1714036504", "1514711492", "4375120948345356249")
    assert err.value.status == 403
    ts = str(int(time.time()))
    assert p.verify_url(signature("AAAAA", ts, "77"), ts, "77", "echo") == "echo"


def test_bad_signature_and_stale_timestamp_are_403() -> None:
    fake = FakeWeChat("http://unused", "tok")
    query, body = fake.request(text_xml("o", "hi", 1))
    with pytest.raises(ProtocolError) as err:
        Protocol("other-token").parse(query, body)
    assert err.value.status == 403
    old_query, old_body = fake.request(text_xml("o", "hi", 1), timestamp=1_000_000_000)
    with pytest.raises(ProtocolError) as err:
        Protocol("tok", timestamp_window_s=300).parse(old_query, old_body)
    assert err.value.status == 403


def test_wrong_msg_signature_is_403() -> None:
    fake = FakeWeChat("http://unused", "tok", KEY, "wxapp", "safe")
    query, body = fake.request(text_xml("o", "hi", 1))
    query["msg_signature"] = "0" * 40
    with pytest.raises(ProtocolError) as err:
        Protocol("tok", KEY, "wxapp").parse(query, body)
    assert err.value.status == 403


class _Memory:
    """The channel store's claim/owner, in memory."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}

    def claim(self, key: str, owner: str, lease_s: float) -> bool:
        if key in self.owners:
            return False
        self.owners[key] = owner
        return True

    def owner(self, key: str) -> str | None:
        return self.owners.get(key)


def test_mode_is_explicit_and_other_modes_are_refused() -> None:
    """Issue 26 #1: with an EncodingAESKey configured, an unencrypted push (signed only over token, timestamp and
    nonce, which a captured query provides) was accepted with any body."""
    plain = FakeWeChat("http://unused", "tok", KEY, "wxapp", "plain")
    for mode in ("compat", "safe", None):  # None: the default with a key is safe
        with pytest.raises(ProtocolError) as err:
            Protocol("tok", KEY, "wxapp", mode=mode).parse(*plain.request(text_xml("o", "我的上报", 1)))
        assert err.value.status == 403
    safe = FakeWeChat("http://unused", "tok", KEY, "wxapp", "safe")
    with pytest.raises(ProtocolError) as err:
        Protocol("tok", KEY, "wxapp", mode="plain").parse(*safe.request(text_xml("o", "hi", 1)))
    assert err.value.status == 400
    with pytest.raises(ValueError, match="EncodingAESKey"):
        Protocol("tok", mode="safe")


def test_a_captured_query_cannot_carry_another_body() -> None:
    """Issue 26 #1: one captured (signature, timestamp, nonce) replayed with five different FromUserName bodies was
    accepted five times. The same body again is WeChat's retry and passes."""
    fake = FakeWeChat("http://unused", "tok")
    p = Protocol("tok", nonces=_Memory())
    query, body = fake.request(text_xml("o-victim", "我的上报", 7))
    assert p.parse(query, body, now=float(query["timestamp"])).openid == "o-victim"
    assert p.parse(query, body).openid == "o-victim"  # WeChat's retry: same query, same body
    for i in range(5):
        forged = text_xml(f"o-attacker-{i}", "我的上报", 100 + i).encode()
        with pytest.raises(ProtocolError) as err:
            p.parse(query, forged)
        assert err.value.status == 403


def test_the_same_push_long_after_is_a_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A retried push gets its reply again (issue 26 #11), so the very same bytes replayed after WeChat's retries
    are over would hand the resident's reply to whoever replays them: refused once the retry window has passed."""
    from assistant.channels.wechat import protocol

    fake = FakeWeChat("http://unused", "tok")
    memory = _Memory()
    query, body = fake.request(text_xml("o-victim", "我的上报", 8))
    assert Protocol("tok", nonces=memory).parse(query, body).openid == "o-victim"
    later = time.time() + protocol.RETRY_WINDOW_S + 5
    monkeypatch.setattr(protocol.time, "time", lambda: later)
    with pytest.raises(ProtocolError) as err:
        Protocol("tok", nonces=memory).parse(query, body, now=float(query["timestamp"]))
    assert err.value.status == 403


def test_split_by_utf8_bytes() -> None:
    text = "低保申请需要材料。" * 300  # 27 bytes a sentence
    pieces = split_utf8(text, 2048)
    assert "".join(pieces) == text and all(len(p.encode()) <= 2048 for p in pieces)
    assert all(p.endswith("。") for p in pieces)
    assert split_utf8("短", 2048) == ["短"]

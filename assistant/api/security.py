"""API keys (stored only as sha256 digests, compared in constant time) and the headers that keep the app's own pages
(the console, /docs) to their own scripts. The rate limits live in `assistant.ratelimit`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return "gw_" + secrets.token_urlsafe(24)


class KeyRing:
    """The admitted keys' digests. `check` hashes the presented key and compares it with every digest."""

    def __init__(self, digests: list[str]) -> None:
        self.digests = [d.strip().lower() for d in digests if d.strip()]

    def check(self, key: str | None) -> bool:
        if not key:
            return False
        digest = hash_key(key)
        ok = False
        for known in self.digests:  # no early exit: the time taken does not say which digest matched
            ok |= hmac.compare_digest(digest, known)
        return ok


def page_headers(page: str, inline_styles: bool = False, workers: bool = False) -> dict[str, str]:
    """A page that may not be framed (clickjacking) and runs only scripts from this server (an inline script by
    its hash), talking to this server only. `inline_styles` for pages whose libraries style elements inline (Swagger
    UI, ReDoc); `workers` for ReDoc's blob: web workers."""
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(x.encode()).digest()).decode()}'" for x in scripts)
    styles = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    policy = (f"default-src 'self'; script-src 'self'{hashes}; style-src {styles}; connect-src 'self'; "
              "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    if workers:
        policy += "; worker-src 'self' blob:"
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}

"""What the routes depend on: the caller's key, who the rate limit counts, the worker and service-token checks,
and the exceptions the app turns into Chinese error bodies. The routers import from here, never from `app`."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Header, Request

from assistant.api.state import State


class RateLimited(Exception):
    def __init__(self, wait: float) -> None:
        self.wait = wait


class Problem(Exception):
    """An error the client sees as {"error": code, "message": Chinese text} with the given status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


class Unauthorized(Exception):
    def __init__(self, presented: bool) -> None:
        self.presented = presented


def get_state(request: Request) -> State:
    state: State = request.app.state.gw
    return state


def presented_key(
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> str | None:
    """The API key of a request: `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return x_api_key


def client_id(request: Request, key: Annotated[str | None, Depends(presented_key)]) -> str:
    """Who the rate limit counts against: the API key when it is valid, the client address otherwise."""
    state = get_state(request)
    if key and state.keys.check(key):
        return "key:" + key[-8:]
    forwarded = request.headers.get("x-forwarded-for") if state.settings.api.trust_forwarded else None
    host = forwarded.split(",")[0].strip() if forwarded else (request.client.host if request.client else "?")
    return "ip:" + host


def limited(request: Request, client: Annotated[str, Depends(client_id)]) -> str:
    allowed, wait = get_state(request).limiter.allow(client)
    if not allowed:
        raise RateLimited(wait)
    return client


def owner_of(key: str) -> str:
    """The opaque owner id of a worker's notebook rows: a digest of the key (not the digest the key ring holds)."""
    return hashlib.sha256(("notebook:" + key).encode("utf-8")).hexdigest()[:32]


def worker(request: Request, key: Annotated[str | None, Depends(presented_key)]) -> str:
    """A valid worker API key is required; returns the caller's owner id."""
    if not key or not get_state(request).keys.check(key):
        raise Unauthorized(bool(key))
    return owner_of(key)


def service_token(request: Request, key: Annotated[str | None, Depends(presented_key)]) -> str:
    """The command center's service token (dispatch API); the actor name recorded in the event log."""
    if not get_state(request).service_tokens.check(key):
        raise Unauthorized(bool(key))
    return "center:" + (key or "")[-6:]


Worker = Annotated[str, Depends(worker)]
StateDep = Annotated[State, Depends(get_state)]

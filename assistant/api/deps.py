"""What the routes depend on: the shared state, the answer service, the caller's key, who the rate limit counts,
the worker and service-token checks, and the exceptions the app turns into Chinese error bodies (`errors.TABLE`).
The routers import from here, never from `app`; each dependency is an `Annotated` alias at the end."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from assistant.answering.pipeline import AnswerService
from assistant.api.security import hash_key
from assistant.api.state import State
from assistant.dispatch.store import DispatchStore


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


def answer_service(request: Request) -> AnswerService:
    return get_state(request).answers()


def dispatch_store(request: Request) -> DispatchStore:
    return get_state(request).reports()


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


@dataclass(frozen=True, slots=True)
class ApiKey:
    """The API key a request presented (None without one), and whether the key ring admits it."""

    value: str | None
    valid: bool

    @property
    def owner(self) -> str | None:
        """Whose notebook the request writes to: a worker's (a valid key), or no one's."""
        return owner_of(self.value) if self.valid and self.value else None

    def admit(self, persona: str) -> None:
        """The worker persona needs a valid key; the resident persona none."""
        if persona == "worker" and not self.valid:
            raise Unauthorized(bool(self.value))


def api_key(request: Request, key: Annotated[str | None, Depends(presented_key)]) -> ApiKey:
    return ApiKey(key, get_state(request).keys.check(key))


def owner_of(key: str) -> str:
    """The opaque owner id of a worker's notebook rows: a digest of the key (not the digest the key ring holds)."""
    return hashlib.sha256(("notebook:" + key).encode("utf-8")).hexdigest()[:32]


def worker(request: Request, key: Annotated[str | None, Depends(presented_key)]) -> str:
    """A valid worker API key is required; returns the caller's owner id."""
    if not key or not get_state(request).keys.check(key):
        raise Unauthorized(bool(key))
    return owner_of(key)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called the dispatch API: the name its changes carry in the event log, and whether it reads personal data
    whole (only the command center's own service tokens: they dispatch and call residents back)."""

    actor: str
    personal: bool


def key_id(digest: str) -> str:
    """A key's public id: 8 hex of a digest of its digest (never any part of the key, nor of the digest stored)."""
    return hashlib.sha256(("actor:" + digest).encode("utf-8")).hexdigest()[:8]


def service_token(request: Request, key: Annotated[str | None, Depends(presented_key)]) -> Caller:
    """The dispatch API's caller: a service token of GRIDWORKER_DISPATCH__TOKEN_HASHES is the center, named by
    __TOKEN_NAMES (or its id) and reading personal data whole; an API key admitted because no service tokens are
    configured reads it masked."""
    state = get_state(request)
    if not key or not state.service_tokens.check(key):
        raise Unauthorized(bool(key))
    dispatch = state.settings.dispatch
    digest = hash_key(key)
    if digest in {d.strip().lower() for d in dispatch.token_hashes}:
        return Caller("center:" + dispatch.token_names.get(digest, key_id(digest)), personal=True)
    return Caller("key:" + key_id(digest), personal=False)


StateDep = Annotated[State, Depends(get_state)]
Answers = Annotated[AnswerService, Depends(answer_service)]
Dispatch = Annotated[DispatchStore, Depends(dispatch_store)]
Key = Annotated[ApiKey, Depends(api_key)]
Client = Annotated[str, Depends(limited)]  # the rate limit is taken; the client it counted
Worker = Annotated[str, Depends(worker)]  # a valid worker key is required; the worker's owner id
Actor = Annotated[Caller, Depends(service_token)]  # a service token is required; who called the dispatch API

"""The API's one error table: each exception takes the entry of its nearest class (an InputError is a 422 although
it is a GridworkerError; a store error its own status), and the body is always {"error", "message"}."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.api.deps import Problem, RateLimited
from assistant.api.errors import TABLE, reply
from assistant.api.state import State
from assistant.dispatch.store import DispatchError, KeyReused
from assistant.errors import GridworkerError, IndexMissing, InputError
from assistant.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State(Settings(index_dir=tmp_path / "index"), None, [])


@pytest.mark.parametrize(("exc", "status", "error", "message"), [
    (InputError("问题不能为空。"), 422, "invalid_input", "问题不能为空。"),
    (IndexMissing("no index"), 503, "IndexMissing", IndexMissing.user_message),
    (GridworkerError("down"), 503, "GridworkerError", GridworkerError.user_message),
    (DispatchError("no report 7", 404), 404, "not_found", "工单不存在。"),
    (DispatchError("cannot go from closed to assigned", 409), 409, "conflict",
     "工单状态不允许这个操作（cannot go from closed to assigned）。"),
    (DispatchError("could not store the report", 503), 503, "unavailable", DispatchError.user_message),
    (KeyReused("idempotency key reused", 409), 409, "idempotency_key_reused", KeyReused.user_message),
    (Problem(404, "not_found", "没有这个政策类别。"), 404, "not_found", "没有这个政策类别。"),
])
def test_each_error_takes_its_nearest_entry(state: State, exc: Exception, status: int, error: str,
                                            message: str) -> None:
    r = reply(exc, state)
    assert (r.status, r.error, r.message, r.headers) == (status, error, message, {})


def test_a_rate_limit_says_when_to_retry(state: State) -> None:
    r = reply(RateLimited(2.6), state)
    assert (r.status, r.error, r.headers) == (429, "rate_limited", {"Retry-After": "3"})


def test_the_table_lists_the_specific_before_the_general() -> None:
    # not needed for the lookup (it walks the exception's MRO), but the table reads top-down as it applies
    kinds = list(TABLE)
    for i, kind in enumerate(kinds):
        assert not any(issubclass(later, kind) for later in kinds[i + 1:]), kind

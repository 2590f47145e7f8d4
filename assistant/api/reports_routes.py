"""The dispatch API (the command center's intake and the console's reports board), authenticated by a service
token. The store's errors become Chinese messages in the app's error table (`errors.TABLE`); a refused status change
names the statuses it may move to here.
Personal numbers (ID, bank card, phone) come back whole only to the center's service tokens, masked to any other
caller (`assistant.privacy`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from assistant.api.deps import Actor, Caller, Dispatch, Problem
from assistant.dispatch.store import TRANSITIONS, DispatchError
from assistant.domain import DESCRIPTION_MAX, STATUS_ZH, ReportDraft, UserRef
from assistant.privacy import mask_report

router = APIRouter(tags=["dispatch"])


class Reporter(BaseModel):
    """Who reported it (`assistant.domain.UserRef`): the channel and the channel's own id for the resident. Status
    notices go back to them on that channel."""

    channel: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="渠道，如 wechat、webhook")
    ref: str = Field(min_length=1, max_length=128, description="该渠道中的居民标识（微信为 openid）")


class ReportIn(ReportDraft):
    """The intake: the domain's report schema itself (one set of rules: a bad category, a 300-character place or a
    latitude of 999 is a 422 here, never a 500 later), with a description required and who reported it.
    `openid` is the older way to say `reporter: {"channel": "wechat", "ref": openid}`; it is still accepted
    (deprecated), and a request that gives both must name the same resident."""

    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX)
    reporter: Reporter | None = Field(default=None, description="上报人：渠道与渠道内标识（中心自行登记时为空）")
    openid: str | None = Field(default=None, max_length=64, json_schema_extra={"deprecated": True},
                               description="已弃用：等同于 reporter = {channel: wechat, ref: openid}")

    @model_validator(mode="after")
    def _one_reporter(self) -> ReportIn:
        if self.openid and self.reporter is not None and (
                self.reporter.channel, self.reporter.ref) != ("wechat", self.openid):
            raise ValueError("openid and reporter name different residents; send reporter only")
        return self

    def user(self) -> UserRef | None:
        if self.reporter is not None:
            return UserRef(self.reporter.channel, self.reporter.ref)
        return UserRef("wechat", self.openid) if self.openid else None  # "" was always "no resident"


class ReportPatch(BaseModel):
    status: Literal["assigned", "in_progress", "resolved", "closed", "reopened"] | None = None
    note: str | None = Field(default=None, max_length=1000)
    rating: int | None = Field(default=None, ge=1, le=5)


def _shown(report: dict[str, Any], actor: Caller) -> dict[str, Any]:
    return dict(report) if actor.personal else mask_report(report)


def _refused_move(current: str, wanted: str) -> str:
    allowed = "、".join(STATUS_ZH[s] for s in sorted(TRANSITIONS.get(current, ())))
    return (f"工单当前为「{STATUS_ZH.get(current, current)}」，不能改为「{STATUS_ZH.get(wanted, wanted)}」"
            + (f"；可以改为：{allowed}。" if allowed else "。"))


@router.post("/v1/reports", status_code=201, summary="提交工单（幂等：Idempotency-Key）")
def create_report(
    body: ReportIn, actor: Actor, store: Dispatch,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    if not idempotency_key:
        raise Problem(400, "idempotency_key_required", "请在请求头 Idempotency-Key 中提供幂等键。")
    draft = ReportDraft.model_validate(body.model_dump(exclude={"openid", "reporter"}))
    result = store.submit(draft, idempotency_key, body.user(), actor.actor)
    return JSONResponse(_shown(result.report, actor), status_code=201 if result.created else 200)


@router.get("/v1/reports/{ref}", summary="工单详情（含事件记录）")
def get_report(ref: str, actor: Actor, store: Dispatch) -> dict[str, Any]:
    report = store.get(ref)
    if report is None:
        raise Problem(404, "not_found", "工单不存在。")
    return _shown(report, actor)


@router.get("/v1/reports", summary="工单列表（按状态、网格、类别筛选）")
def list_reports(
    actor: Actor, store: Dispatch,
    status: str | None = None, grid: str | None = None, category: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    return [_shown(r, actor) for r in store.listing(status, grid, category, None, limit, offset)]


@router.patch("/v1/reports/{ref}", summary="更新工单状态 / 备注 / 评分")
def update_report(ref: str, body: ReportPatch, actor: Actor, store: Dispatch) -> dict[str, Any]:
    try:
        return _shown(store.update(ref, actor.actor, body.status, body.note, body.rating), actor)
    except DispatchError as exc:
        current = store.get(ref, events=False) if exc.status == 409 and body.status else None
        if current is None or body.status in TRANSITIONS.get(current["status"], ()):
            raise
        raise Problem(409, "conflict", _refused_move(current["status"], body.status or "")) from exc

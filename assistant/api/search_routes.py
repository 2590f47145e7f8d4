"""Search without an answer: GET /v1/search (the retriever's hits; worker-only documents with a valid key) and the
policy categories."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from assistant.answering.pipeline import AUDIENCE
from assistant.api.deps import Answers, Client, Key, StateDep
from assistant.api.errors import RESPONSES
from assistant.domain import SearchFilters

router = APIRouter(tags=["search"])


@router.get("/v1/search", responses=RESPONSES, summary="检索条文（不生成答案）")
def search(
    q: Annotated[str, Query(min_length=1, max_length=500, description="检索语句")],
    key: Key,
    _: Client,
    service: Answers,
    k: Annotated[int, Query(ge=1, le=50)] = 10,
    category: Annotated[str | None, Query(max_length=64)] = None,
    persona: Annotated[Literal["resident", "worker"], Query()] = "resident",
) -> dict[str, Any]:
    key.admit(persona)
    filters = SearchFilters(audiences=AUDIENCE[persona], categories=(category,) if category else ())
    result = service.retriever.search(q.strip(), k=k, filters=filters)
    return {"query": q, "mode": result.mode, "hits": [h.to_json() for h in result.hits],
            "timings": {k2: round(v, 2) for k2, v in result.timings_ms.items()}}


@router.get("/v1/categories", summary="政策类别（48 类）")
def categories(state: StateDep) -> list[dict[str, str]]:
    return state.categories

"""Browsing the knowledge base (workers): the 48 categories → a category's documents → a document's articles.
Documents are named by id (a digest), never by a path; an id that is not one is a 404 like an unknown one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from assistant.api.deps import Problem, StateDep, Worker
from assistant.api.library import CATEGORY_ID

router = APIRouter(tags=["library"])
NOT_A_CATEGORY = "没有这个政策类别。"
NOT_A_DOCUMENT = "没有找到这份文件。"


@router.get("/v1/categories/{category_id}/documents", summary="一个政策类别下的文件（标题、效力层级、施行日期）")
def category_documents(category_id: str, _: Worker, state: StateDep) -> dict[str, Any]:
    category = next((c for c in state.categories if c["id"] == category_id), None)
    if category is None or not CATEGORY_ID.match(category_id):
        raise Problem(404, "not_found", NOT_A_CATEGORY)
    return {"category": category, "documents": state.library().documents(category_id)}


@router.get("/v1/documents/{doc_id}", summary="一份文件的全部条文（或工作指引的各节）")
def document(doc_id: str, _: Worker, state: StateDep) -> dict[str, Any]:
    doc = state.library().document(doc_id)
    if doc is None:
        raise Problem(404, "not_found", NOT_A_DOCUMENT)
    return doc

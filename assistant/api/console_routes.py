"""The worker console: one static page (no build step) at /console, its scripts and styles under /static/console,
served with headers that allow only this server's own scripts; / leads to it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from assistant.api.security import page_headers

STATIC = Path(__file__).resolve().parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/console")


@router.get("/console", response_class=HTMLResponse)
def console() -> HTMLResponse:
    page, headers = _page()
    return HTMLResponse(page, headers=headers)


@cache
def _page() -> tuple[str, dict[str, str]]:
    """The page and its headers (the policy names its inline script by hash), read once."""
    page = (STATIC / "console.html").read_text(encoding="utf-8")
    return page, page_headers(page)

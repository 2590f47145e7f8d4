"""/docs (Swagger UI) and /redoc served with their scripts from this server: FastAPI's defaults load them from a
CDN, which a subdistrict's intranet cannot reach. The files are the pinned `fastapi-offline` package's (Swagger UI,
Apache-2.0; ReDoc, MIT), served as they ship, under /static/apidocs."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from assistant.api.security import page_headers

ASSETS = "/static/apidocs"
# the validator badge would call validator.swagger.io with the spec's address
PARAMETERS = {"validatorUrl": None, "defaultModelsExpandDepth": 0}


def assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI) -> None:
    """Mount the assets and add /docs, its OAuth2 redirect page and /redoc (the app is built with docs_url=None)."""
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="apidocs")
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    swagger = _guarded(get_swagger_ui_html(
        openapi_url=openapi_url, title=f"{title} - Swagger UI", oauth2_redirect_url=redirect,
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png", swagger_ui_parameters=PARAMETERS,
    ))
    # ReDoc's footer logo comes from its CDN (the page hides it when it fails): the policy stops the request
    redoc = _guarded(get_redoc_html(
        openapi_url=openapi_url, title=f"{title} - ReDoc", redoc_js_url=f"{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False,
    ), workers=True)
    oauth2 = _guarded(get_swagger_ui_oauth2_redirect_html())

    app.add_api_route("/docs", lambda: swagger, include_in_schema=False)
    app.add_api_route(redirect, lambda: oauth2, include_in_schema=False)
    app.add_api_route("/redoc", lambda: redoc, include_in_schema=False)


def _guarded(page: HTMLResponse, workers: bool = False) -> HTMLResponse:
    """The page as it is, with headers that allow only this server's assets (its inline script by hash)."""
    html = bytes(page.body).decode("utf-8")
    return HTMLResponse(html, headers=page_headers(html, inline_styles=True, workers=workers))

"""ASGI entry point: `uvicorn serve:app` (or `gridworker serve`). Settings come from GRIDWORKER_… variables."""

from assistant.api.app import create_app

app = create_app()

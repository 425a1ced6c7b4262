"""``GET /``: the web page, and ``/static/...``: its scripts, style sheet and sample tiles, shipped in the package.

The page is plain HTML, CSS and JavaScript modules (no build step, nothing fetched from elsewhere) that call
the public API like any other client. These routes need no API key: they hold no data, and the page asks for
a key when the API answers 401. Browsers ask for ``text/html`` and get the page; API clients (``*/*`` or
``application/json``) get a small JSON pointer to the documentation instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from service.api.formats import accepted_media

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
POINTER = {"service": "roadlens", "page": "/", "docs": "/docs", "openapi": "/openapi.json"}
# The page names its scripts without a content hash, so a browser must check for a newer copy on each visit.
NO_STALE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def wants_page(accept: str | None) -> bool:
    """True when the client names HTML before JSON in its ``Accept`` header (what browsers do)."""
    for media in accepted_media(accept):
        if media in ("text/html", "application/xhtml+xml"):
            return True
        if media == "application/json":
            return False
    return False


@router.get("/")
async def index(accept: Annotated[str | None, Header()] = None) -> Response:
    """The web page for browsers: choose a tile, see the prediction, VisualBackProp, the other methods and the
    feature maps. For API clients, where to find the documentation.
    """
    if wants_page(accept):
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=NO_STALE)
    return JSONResponse(POINTER)


router.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=True), name="static")

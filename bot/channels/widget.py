"""The customer widget page ``GET /widget``, its static files and the guide images."""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file

ROOT = Path(__file__).resolve().parents[2]
STATIC = Path(__file__).resolve().parent / "static"
GUIDE_IMAGES = ROOT / "data" / "guides" / "img"


def widget_blueprint() -> Blueprint:
    """``GET /widget``, ``/static/*`` and ``/guides/img/*``."""
    bp = Blueprint("widget")

    @bp.get("/widget")
    async def widget(request: Request) -> HTTPResponse:
        return await file(STATIC / "widget.html", mime_type="text/html; charset=utf-8")

    if STATIC.is_dir():
        bp.static("/static", str(STATIC), name="static")
    if GUIDE_IMAGES.is_dir():
        bp.static("/guides/img", str(GUIDE_IMAGES), name="guide_images")
    return bp

"""The read-only portal at `/ui/`: a static page that reads the JSON APIs with a pasted token.

It is a static bundle rather than server-rendered pages because its data lives in three
services (intake's changes, review's queue and freeze windows, audit's ledger): a page
that calls the APIs from the browser works unchanged in the all-in-one mode and behind
the gateway of the distributed mode, where each service also serves it and a section
whose API another service owns says so instead of failing.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

STATIC = files(__package__) / "static"
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "portal.css": "text/css; charset=utf-8",
    "portal.js": "text/javascript; charset=utf-8",
    "ledger.js": "text/javascript; charset=utf-8",
}
# The token sits in sessionStorage, so no script but ours may run and nothing may leave
# for another origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def portal_router() -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)

    @router.get("", summary="The portal.")
    async def portal_root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @router.get("/", summary="The portal page.")
    async def portal_page() -> Response:
        return _asset("index.html")

    @router.get("/{name}", summary="The portal's script and style.")
    async def portal_asset(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(status_code=404, detail="Not Found")
        return _asset(name)

    return router


def _asset(name: str) -> Response:
    return Response((STATIC / name).read_bytes(), media_type=ASSETS[name], headers=SECURITY_HEADERS)

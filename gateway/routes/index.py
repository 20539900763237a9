"""The API's front door, `GET /`: what this is and where to go, for anyone, with no token.

It says only what the published OpenAPI document says already (the name, the version, the
routes): nothing about the deployment, its services or its data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.schemas import ApiIndex

router = APIRouter(tags=["health"])

LINKS = {
    "docs": "/docs",
    "openapi": "/openapi.json",
    "health": "/healthz",
    "workflows": "/workflows",
    "templates": "/templates",
    "reviews": "/reviews",
}


@router.get("/")
async def api_index(request: Request) -> ApiIndex:
    """The API's name and version, and links to its documentation, its health and its main resources."""
    return ApiIndex(name=request.app.title, version=request.app.version, links=LINKS)

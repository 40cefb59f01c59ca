"""Liveness and readiness (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from exchange_hub.deps import Hub
from exchange_hub.migrations_util import current_and_head

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    database: str
    migration: str | None = None
    head: str | None = None


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {"model": Readiness, "description": "database unreachable, or migrations pending"}
    },
)
def readyz(hub: Hub) -> JSONResponse:
    try:
        with hub.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current, head = current_and_head(conn)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    body = {"status": "ok", "database": "ok", "migration": current, "head": head}
    if current != head:
        body["status"] = "migrations pending"
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)

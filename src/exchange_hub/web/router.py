"""web API routes (to be filled by the web work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["web"])

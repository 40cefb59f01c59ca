"""records API routes (to be filled by the records work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["records"])

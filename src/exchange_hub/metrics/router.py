"""metrics API routes (to be filled by the metrics work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["metrics"])

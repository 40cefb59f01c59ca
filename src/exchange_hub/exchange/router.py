"""exchange API routes (to be filled by the exchange work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["exchange"])

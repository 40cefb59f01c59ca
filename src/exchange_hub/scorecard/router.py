"""scorecard API routes (to be filled by the scorecard work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["scorecard"])

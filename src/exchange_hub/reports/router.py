"""reports API routes (to be filled by the reports work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["reports"])

"""UI pages: see ``mltrail.server.ui``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""JSON responses as MLflow's server writes them (snake_case, enums as names, NaN as
strings), encoded with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def empty() -> FastJSONResponse:
    return FastJSONResponse({})

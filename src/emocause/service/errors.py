"""OpenAI's error object, `{"error": {"message", "type", "param", "code"}}`, which its SDKs show; every route of
both servers (`app.py`, `lm_app.py`) answers errors in it."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse

_ERROR_TYPES = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error",
                503: "overloaded_error", 504: "timeout_error"}  # fmt: skip


def openai_error(
    status: int,
    message: str,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))

"""The HTTP API's refusals: a status, a stable code and the reason in both languages.

Every refusal is the JSON ``{"error": {"code": CODE, "zh": ..., "en": ...}}`` -- never a
traceback: a client (the big screen, a script) shows the reason in its user's language and
acts on the code.
"""

from __future__ import annotations

import http
from http import HTTPStatus

import orjson
from websockets.http11 import Response

from cockpit_api.errors import CockpitError

from ..pages import respond

JSON = "application/json; charset=utf-8"


class ApiError(CockpitError):
    """A request refused: ``status`` (400, 401, 403, 404, 429, 503), ``code`` (stable),
    ``zh`` and ``en`` (why, for people), ``headers`` (e.g. ``Retry-After``)."""

    def __init__(self, status: HTTPStatus, code: str, zh: str, en: str,
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{en} [{code}]")
        self.status, self.code, self.zh, self.en = status, code, zh, en
        self.headers = headers or []

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "zh": self.zh, "en": self.en}}

    def response(self) -> Response:
        extra = list(self.headers)
        if self.status == HTTPStatus.UNAUTHORIZED:
            extra.append(("WWW-Authenticate", 'Bearer realm="citycc"'))
        return respond(self.status, JSON, orjson.dumps(self.body()), extra)


def bad_param(name: str, zh: str, en: str) -> ApiError:
    """400 for the query parameter ``name``: the reason says what is expected."""
    return ApiError(HTTPStatus.BAD_REQUEST, "bad_param", f"参数 {name}：{zh}",
                    f"parameter {name}: {en}")


def unauthenticated(code: str, zh: str, en: str) -> ApiError:
    return ApiError(HTTPStatus.UNAUTHORIZED, code, zh, en)


def forbidden(zh: str, en: str) -> ApiError:
    return ApiError(HTTPStatus.FORBIDDEN, "forbidden", zh, en)


def not_found(zh: str, en: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "not_found", zh, en)


def rate_limited(retry_s: float) -> ApiError:
    wait = max(1, int(retry_s + 0.999))
    return ApiError(HTTPStatus.TOO_MANY_REQUESTS, "rate_limited",
                    f"请求过于频繁，请 {wait} 秒后再试", f"too many requests: try again in "
                    f"{wait} s", [("Retry-After", str(wait))])


def unavailable(code: str, zh: str, en: str, retry_s: int = 5) -> ApiError:
    return ApiError(HTTPStatus.SERVICE_UNAVAILABLE, code, zh, en,
                    [("Retry-After", str(retry_s))])


def json_ok(body: object) -> Response:
    return respond(http.HTTPStatus.OK, JSON, orjson.dumps(body))

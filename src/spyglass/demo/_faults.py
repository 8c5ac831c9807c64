"""Faults the demo server injects, chosen by the requested model name, and OpenAI error bodies.

See `spyglass.demo.server` for the list of fault model names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.responses import Response

from spyglass.demo._util import dumps


@dataclass(frozen=True)
class ApiError:
    """An OpenAI error: HTTP status plus the `{"error": {...}}` body fields."""

    status: int
    message: str
    type: str
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> Response:
        headers = {"content-type": "application/json; charset=utf-8", **self.headers}
        return Response(dumps(self.body()), status_code=self.status, headers=headers)


@dataclass(frozen=True)
class Fault:
    """What a model name asks the server to do besides answering normally."""

    error: ApiError | None = None
    delay_ms: int = 0
    midstream: str | None = None  # "error" or "disconnect"
    reject_stream_options: bool = False


MIDSTREAM_ERROR = ApiError(
    500,
    "The server had an error while processing your request. Sorry about that!",
    "server_error",
)

ECHO_CREDENTIALS = "echo-credentials"


def echoed_credentials(headers: Mapping[str, str], method: str, url: str) -> ApiError:
    """A 401 that repeats the key and the URL it was sent, as some servers do (a test of scrubbing)."""
    sent = headers.get("api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    return ApiError(
        401,
        f"Incorrect API key provided: {sent}. The request was {method} {url}.",
        "invalid_request_error",
        code="invalid_api_key",
    )


_SLOW = re.compile(r"^slow-(\d{1,6})$")
_ERROR = re.compile(r"^error-([45]\d\d)$")


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        code="model_not_found",
    )


def invalid_url(method: str, path: str) -> ApiError:
    return ApiError(404, f"Invalid URL ({method} {path})", "invalid_request_error")


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, "invalid_request_error", param, code)


def stream_options_rejected() -> ApiError:
    return bad_request("Unrecognized request argument supplied: stream_options")


def fault_for_model(model: str) -> Fault:
    """The fault a model name selects; `Fault()` for an ordinary model."""
    if model.startswith("missing-"):
        return Fault(error=model_not_found(model))
    if model == "midstream-error":
        return Fault(midstream="error")
    if model == "midstream-disconnect":
        return Fault(midstream="disconnect")
    if model == "no-stream-options":
        return Fault(reject_stream_options=True)
    slow = _SLOW.match(model)
    if slow:
        return Fault(delay_ms=int(slow.group(1)))
    error = _ERROR.match(model)
    if error:
        return Fault(error=_status_error(int(error.group(1)), model))
    return Fault()


def _status_error(status: int, model: str) -> ApiError:
    if status == 400:
        return bad_request(
            f"Invalid value for 'model': the demo model '{model}' always fails with 400.",
            "model",
            "invalid_value",
        )
    if status == 401:
        return ApiError(
            401,
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            code="invalid_api_key",
        )
    if status == 403:
        return ApiError(403, "You are not allowed to access this resource.", "invalid_request_error")
    if status == 404:
        return model_not_found(model)
    if status == 429:
        return ApiError(
            429,
            f"Rate limit reached for {model} in organization org-demo on requests per min (RPM): "
            "Limit 3, Used 3, Requested 1. Please try again in 0s.",
            "requests",
            code="rate_limit_exceeded",
            # retry-after-ms keeps SDK retries instant: the SDK ignores a retry-after of 0.
            headers={"retry-after": "0", "retry-after-ms": "1"},
        )
    if status >= 500:
        return ApiError(status, MIDSTREAM_ERROR.message, "server_error")
    return ApiError(status, f"The demo model '{model}' always fails with {status}.", "invalid_request_error")

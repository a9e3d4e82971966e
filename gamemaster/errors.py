"""One error body for every answer that is not a success: `{"code", "detail"}` (+ `fields`)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

BAD_ARGUMENTS_DETAIL = "Some arguments are missing or wrong."


class ApiError(exceptions.APIException):
    """A refusal the API documents: carries its status, snake_case code and optional headers."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "bad_arguments"
    default_detail = BAD_ARGUMENTS_DETAIL

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.default_detail)
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.headers = headers or {}
        self.fields = fields


class BadArguments(ApiError):
    def __init__(self, detail: str | None = None, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(detail, fields=fields)


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"
    default_detail = "Not found."


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class Unavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "unavailable"


# DRF's own exceptions, named with the codes we document.
DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_token",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ParseError: "bad_arguments",
    exceptions.ValidationError: "bad_arguments",
}


def error_body(code: str, detail: str, fields: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API exception with the one error body, then let DRF do the rest (headers, rollback)."""
    # Imported here: rest_framework.views imports the authentication classes, which import this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API exception: a real bug, Django's 500 handler answers
    if isinstance(exc, ApiError):
        response.data = error_body(exc.code, str(exc.detail), exc.fields)
        for name, value in exc.headers.items():
            response[name] = value
    elif isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("bad_arguments", BAD_ARGUMENTS_DETAIL, fields)
    elif isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
        detail = exc.detail if isinstance(exc.detail, str) else BAD_ARGUMENTS_DETAIL
        response.data = error_body(code, str(detail))
    return response


def json_error(code: str, detail: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(code, detail), status=status_code)


# Django-level handlers: unknown URLs and crashes outside DRF still answer the error body.
def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error("bad_request", "The request could not be understood.", 400)


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error("permission_denied", "You do not have permission to do this.", 403)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error("not_found", "No such endpoint.", 404)


def handler500(request: HttpRequest) -> JsonResponse:
    return json_error("server_error", "The server failed; the error has been logged.", 500)

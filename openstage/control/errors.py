"""The errors the control API answers with, in AWS's envelope.

Each class carries the wire name boto3 turns into ``e.response["Error"]["Code"]`` and the
HTTP status from the model (402 for quotas is AWS's own, unusual choice).
"""

from __future__ import annotations

import json
import uuid

from starlette.responses import Response

# Sent on every response, success or error: the values AWS's front end sends (docs 0).
SECURITY_HEADERS: dict[str, str] = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": (
        "Access-Control-Allow-Origin,Access-Control-Expose-Headers,Cache-Control,Content-Length,"
        "Content-Security-Policy,Content-Type,date,Strict-Transport-Security,x-amz-apigw-id,"
        "x-amzn-errormessage,x-amzn-errortype,x-amzn-requestid,x-amzn-trace-id,"
        "X-Content-Type-Options,X-Frame-Options"
    ),
    "Cache-Control": "no-store, no-cache",
    "Content-Security-Policy": "default-src 'self'; upgrade-insecure-requests;",
    "Strict-Transport-Security": "max-age:47304000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class ApiError(Exception):
    code = "InternalServerException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_response(self, request_id: str | None = None) -> Response:
        body = {"exceptionMessage": self.message, "message": self.message}
        headers = dict(SECURITY_HEADERS)
        headers["x-amzn-ErrorType"] = self.code
        headers["x-amzn-RequestId"] = request_id or str(uuid.uuid4())
        return Response(json.dumps(body), status_code=self.status, headers=headers, media_type="application/json")


class ValidationException(ApiError):
    code = "ValidationException"
    status = 400


class SerializationException(ApiError):
    """The body is not JSON, or not a JSON object: AWS's rest-json front ends use this name."""

    code = "SerializationException"
    status = 400


class AccessDeniedException(ApiError):
    code = "AccessDeniedException"
    status = 403


class ResourceNotFoundException(ApiError):
    code = "ResourceNotFoundException"
    status = 404


class ConflictException(ApiError):
    code = "ConflictException"
    status = 409


class ServiceQuotaExceededException(ApiError):
    code = "ServiceQuotaExceededException"
    status = 402


class InternalServerException(ApiError):
    code = "InternalServerException"
    status = 500


class UnknownOperationException(ApiError):
    code = "UnknownOperationException"
    status = 404


class NotImplementedYet(ApiError):
    """An operation of a newer model than this openstage knows; never a fake success."""

    code = "NotImplementedException"
    status = 501


class InvalidSignatureException(ApiError):
    code = "InvalidSignatureException"
    status = 403


class UnrecognizedClientException(ApiError):
    code = "UnrecognizedClientException"
    status = 403


class IncompleteSignatureException(ApiError):
    code = "IncompleteSignatureException"
    status = 403


class MissingAuthenticationTokenException(ApiError):
    code = "MissingAuthenticationTokenException"
    status = 403


def not_found(kind: str, arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"{kind} not found: {arn}")

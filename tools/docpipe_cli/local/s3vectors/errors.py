"""The local S3 Vectors' errors: the service's codes, so botocore raises the same ClientError."""

from __future__ import annotations

from moto.core.exceptions import ServiceException


class ValidationException(ServiceException):
    """HTTP 400 ``ValidationException``, the service's answer to a request it will not run.

    ``fieldList`` is the model's list of ``{path, message}`` pairs: the field that failed.
    """

    code = "ValidationException"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        if path is not None:
            self.fieldList = [{"path": path, "message": message}]


class NotFoundException(ServiceException):
    code = "NotFoundException"


class ConflictException(ServiceException):
    code = "ConflictException"

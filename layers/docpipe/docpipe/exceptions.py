"""One error hierarchy, so callers can tell a skip (permanent) from a retry (transient)."""

from __future__ import annotations


class DocpipeError(Exception):
    """Base of every error docpipe raises on purpose."""


class ConfigError(DocpipeError):
    """A setting is missing or invalid; raised at cold start, naming the variable."""


class InvalidInputError(DocpipeError, ValueError):
    """A user-supplied name (bucket, key, action) breaks the rules before any AWS call."""


class ValidationError(InvalidInputError):
    """A caller's request breaks a rule; ``field`` names the part (``k``, ``filter.$and[0].page``).

    The search API answers it with HTTP 400 (Function URL) or a ``{"error": "ValidationError"}``
    result (direct invocation), never a stack trace: the message says what is wrong and what is
    allowed, and never quotes a secret.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"error": "ValidationError", "field": self.field, "message": self.message}


class PermanentError(DocpipeError):
    """Retrying will not help: the document is recorded as skipped with ``reason``."""

    reason = "corrupt"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class UnsupportedTypeError(PermanentError):
    reason = "unsupported_type"


class EncryptedDocumentError(PermanentError):
    reason = "encrypted"


class EmptyTextError(PermanentError):
    reason = "empty_text"


class DocumentTooLargeError(PermanentError):
    reason = "too_large"


class CorruptDocumentError(PermanentError):
    reason = "corrupt"


class MetadataTooLargeError(PermanentError):
    reason = "metadata_too_large"


class NeedsOcrError(PermanentError):
    """Pages hold only images (a scan) and OCR_PROVIDER is none."""

    reason = "needs_ocr"


class OcrPageLimitError(PermanentError):
    """More pages need OCR than OCR_MAX_PAGES allows for one document (a cost guard)."""

    reason = "ocr_page_limit"


class InvalidSidecarError(PermanentError):
    """The document's ``.metadata.json`` sidecar is not valid JSON or breaks the Bedrock format."""

    reason = "invalid_sidecar"


class AccessListTooLargeError(PermanentError):
    """A document's access list (sidecar and prefix rule united) does not fit the filterable budget."""

    reason = "access_list_too_large"


class ForbiddenError(DocpipeError):
    """A search caller may not search (unmapped identity) or may not do what it asked (``on_behalf_of``
    from a non-delegate): HTTP 403 at the Function URL. ``reason`` is the metric's dimension."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"error": "Forbidden", "message": self.message}


class OutOfScopeError(PermanentError):
    """The key is no document of the pipeline's scope (``docpipe.scope``); ``reason`` says why:
    ``outside_prefix`` or ``outside_suffix`` (a document skipped), ``folder`` or ``sidecar``."""

    reason = "outside_suffix"


class TransientError(DocpipeError):
    """Worth retrying (throttling, timeouts, 5xx): the SQS record fails and is redelivered."""


class TransientAWSError(TransientError):
    """An AWS call failed in a way that a later attempt may not."""


class ThrottledError(TransientAWSError):
    """AWS asked us to slow down."""


class DeadlineExceededError(TransientAWSError):
    """A retry was due but the invocation has no time left for it: SQS redelivers the record."""


class AWSError(DocpipeError):
    """An AWS call failed permanently for a reason not covered by a narrower class."""


class NotFoundError(AWSError):
    """The bucket, object, table, index or secret does not exist."""


class AccessDeniedError(AWSError):
    """The caller's role may not do this; fix the policy, retrying will not help."""


class SecretNotFoundError(NotFoundError):
    """No secret by that name, and no environment fallback or default was given."""


class BackupError(DocpipeError):
    """A backup, verify, restore or prune action could not be completed."""


class ArchiveRejectedError(BackupError):
    """A backup archive broke a safety rule; nothing was restored."""

    def __init__(self, message: str, *, member: str | None = None, rule: str) -> None:
        super().__init__(f"{message} (member={member!r}, rule={rule})")
        self.member = member
        self.rule = rule


class IndexMismatchError(DocpipeError):
    """An index's dimension or distance metric differs from what the data needs."""


SKIP_REASONS: tuple[str, ...] = (
    "unsupported_type",
    "encrypted",
    "empty_text",
    "too_large",
    "corrupt",
    "metadata_too_large",
    "needs_ocr",
    "ocr_page_limit",
    "invalid_sidecar",
    "access_list_too_large",
    # docpipe.scope.OUT_OF_SCOPE_REASONS: DocumentPrefix / DocumentSuffix exclude the key.
    "outside_prefix",
    "outside_suffix",
)

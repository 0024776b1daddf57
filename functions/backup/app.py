"""BackupFunction: back up, list, verify, restore or prune the vector index, one action per event."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from docpipe import aws
from docpipe.backup import BackupService
from docpipe.config import Settings
from docpipe.exceptions import InvalidInputError
from docpipe.registry import DocumentRegistry
from docpipe.s3 import S3Client

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
# Fail the cold start naming the variable, not the first invocation with an opaque AWS error.
settings.require("documents_table", "backups_bucket", "vector_bucket", "vector_index")
service = BackupService(
    settings,
    s3=S3Client(aws.client("s3")),
    vectors_client=aws.client("s3vectors"),
    registry=DocumentRegistry(aws.client("dynamodb"), settings.documents_table),
    segment_count=settings.backup_segment_count,
)
ACTIONS = ("backup", "list", "verify", "restore", "prune")
_FLAG_STRINGS = {"true": True, "false": False}


def _action(event: dict[str, Any]) -> str:
    # A schedule rule without an Input sends the raw "Scheduled Event": that means a backup.
    if "action" not in event and event.get("detail-type") == "Scheduled Event":
        return "backup"
    action = event.get("action")
    if action not in ACTIONS:
        raise InvalidInputError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    return str(action)


def _flag(event: dict[str, Any], name: str) -> bool | None:
    """A boolean field: JSON true/false or the strings "true"/"false" (``bool("false")`` is True)."""
    value = event.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _FLAG_STRINGS:
        return _FLAG_STRINGS[value.strip().lower()]
    raise InvalidInputError(f"{name} must be true or false, not {str(value)[:40]!r}")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = _action(event)
    backup = str(event.get("backup") or "latest")
    logger.info("backup action", extra={"action": action, "backup": backup})
    if action == "backup":
        result = service.backup().to_dict()
    elif action == "list":
        result = {"backups": [b.to_dict() for b in service.list_backups(event.get("index"))]}
    elif action == "verify":
        result = service.verify(backup, compare_live=bool(_flag(event, "compare_live"))).to_dict()
    elif action == "restore":
        result = service.restore(
            backup,
            target_index=event.get("target_index"),
            mode=str(event.get("mode", "replace")),
            # None: the service restores the registry only when the target is the live index.
            restore_registry=_flag(event, "restore_registry"),
        ).to_dict()
    else:
        result = service.prune(event.get("index")).to_dict()
    return {"action": action, **result}

"""BackupFunction's event: which action, on which backup and index, checked whole before it starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docpipe.config import BACKUP_ACTIONS as ACTIONS
from docpipe.config import RESTORE_MODES
from docpipe.exceptions import InvalidInputError

__all__ = ["ACTIONS", "RESTORE_MODES", "BackupRequest"]
_FLAG_STRINGS = {"true": True, "false": False}


@dataclass(frozen=True)
class BackupRequest:
    """One BackupFunction event, checked whole before any action starts."""

    action: str
    backup: str = "latest"
    index: str | None = None
    target_index: str | None = None
    mode: str = "replace"
    compare_live: bool = False
    # None: the registry is restored only when the target is the live index.
    restore_registry: bool | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> BackupRequest:
        """``{"action": ..., ...}``, or EventBridge's raw "Scheduled Event" (a rule without Input).

        Raises:
            InvalidInputError: an unknown action, or a flag that is not a boolean.
        """
        if "action" not in event and event.get("detail-type") == "Scheduled Event":
            return cls(action="backup")
        action = event.get("action")
        if action not in ACTIONS:
            raise InvalidInputError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        return cls(
            action=str(action),
            backup=_text(event, "backup") or "latest",
            index=_text(event, "index"),
            target_index=_text(event, "target_index"),
            mode=_text(event, "mode") or "replace",
            compare_live=bool(_flag(event, "compare_live")),
            restore_registry=_flag(event, "restore_registry"),
        )


def _text(event: Mapping[str, Any], name: str) -> str | None:
    value = event.get(name)
    if value is None or isinstance(value, str):
        return value
    raise InvalidInputError(f"{name} must be a string, not {type(value).__name__}")


def _flag(event: Mapping[str, Any], name: str) -> bool | None:
    """A boolean field: JSON true/false or the strings "true"/"false" (``bool("false")`` is True)."""
    value = event.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _FLAG_STRINGS:
        return _FLAG_STRINGS[value.strip().lower()]
    raise InvalidInputError(f"{name} must be true or false, not {str(value)[:40]!r}")

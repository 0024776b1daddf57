"""``docpipe backup``: BackupFunction's actions (create, list, verify, restore, prune)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from docpipe.config import BACKUP_ACTIONS, RESTORE_MODES
from docpipe_cli.console import err, out
from docpipe_cli.lambda_invoke import invoke_function
from docpipe_cli.target import Target, resolve_target

# The command line's names for BackupFunction's actions, where they differ (`docpipe backup create`).
COMMAND_ACTIONS = {"backup": "create"}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("backup", parents=[common], help="backup actions (BackupFunction)")
    p.add_argument("action", choices=[COMMAND_ACTIONS.get(a, a) for a in BACKUP_ACTIONS])
    p.add_argument("--backup", help="backup key or 'latest' (verify, restore)")
    p.add_argument("--index", help="index whose backups to list/prune")
    p.add_argument("--target-index", dest="target_index", help="restore into this index")
    p.add_argument("--mode", choices=RESTORE_MODES)
    p.add_argument("--compare-live", action="store_true", help="verify: compare with the live index")
    p.add_argument("--no-registry", action="store_true", help="restore: leave the registry alone")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ok, payload = invoke_backup(resolve_target(args), backup_event(args))
    out(json.dumps(payload, indent=2, default=str))
    if not ok:
        error = payload if isinstance(payload, dict) else {}
        err(f"error: backup {args.action} failed: {error.get('errorType')}: {error.get('errorMessage')}")
        return 1
    return verify_exit_code(payload) if args.action == "verify" else 0


def backup_event(args: argparse.Namespace) -> dict[str, Any]:
    """The BackupFunction event the command line asks for (``create`` is the ``backup`` action)."""
    action = {command: action for action, command in COMMAND_ACTIONS.items()}.get(args.action, args.action)
    event: dict[str, Any] = {"action": action}
    for name in ("backup", "index", "target_index", "mode"):
        value = getattr(args, name, None)
        if value:
            event[name] = value
    if getattr(args, "compare_live", False):
        event["compare_live"] = True
    if getattr(args, "no_registry", False):
        event["restore_registry"] = False
    return event


def invoke_backup(target: Target, event: dict[str, Any]) -> tuple[bool, Any]:
    """Run the BackupFunction: locally in a sandbox, on AWS with lambda invoke."""
    return invoke_function(target, "BackupFunction", "backup_function", event)


def verify_exit_code(payload: Any) -> int:
    """A verification that finds a problem fails the command, as a failed check should in a script."""
    report = payload if isinstance(payload, dict) else {}
    if report.get("ok") is not True:
        where = f" ({report.get('member')})" if report.get("member") else ""
        err(f"error: backup {report.get('key')} failed verification: {report.get('problem')}{where}")
        return 1
    if report.get("live_compared") and not report.get("live_matches"):
        err(
            f"error: the live index differs from backup {report.get('key')}: "
            f"{report.get('live_missing')} missing, {report.get('live_extra')} extra, "
            f"{report.get('live_changed')} changed"
        )
        return 1
    return 0

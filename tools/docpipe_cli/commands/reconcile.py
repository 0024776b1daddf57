"""``docpipe reconcile``: ReconcileFunction invoked, its report printed and summed up."""

from __future__ import annotations

import argparse
import json
from typing import Any

from docpipe_cli.console import err, out
from docpipe_cli.lambda_invoke import invoke_function
from docpipe_cli.target import resolve_target


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "reconcile", parents=[common], help="find and repair drift (ReconcileFunction); prints its report"
    )
    p.add_argument("--dry-run", action="store_true", help="report the drift, change nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Invoke ReconcileFunction (locally in a sandbox, on AWS with lambda invoke) and print its report."""
    event = {"dry_run": bool(args.dry_run)}
    ok, report = invoke_function(resolve_target(args), "ReconcileFunction", "reconcile_function", event)
    out(json.dumps(report, indent=2, default=str))
    if not ok:
        error = report if isinstance(report, dict) else {}
        err(f"error: reconcile failed: {error.get('errorType')}: {error.get('errorMessage')}")
        return 1
    err(reconcile_summary(report))
    return 1 if report.get("stopped") == "listing_failed" else 0


def reconcile_summary(report: dict[str, Any]) -> str:
    """One line: the drift found, what was done about it, and whether the pass finished."""
    counts = ", ".join(f"{name} {count}" for name, count in report.get("counts", {}).items())
    verb = "would enqueue" if report.get("dry_run") else "enqueued"
    end = "pass complete" if report.get("complete") else f"stopped: {report.get('stopped')}"
    ignored = ", ".join(f"{reason} {n}" for reason, n in (report.get("ignored") or {}).items() if n)
    return (
        f"drift {report.get('drift')} ({counts}); {verb} {report.get('enqueued')}, "
        f"deleted {report.get('vectors_deleted')} orphan vectors; "
        + (f"outside the scope, ignored: {ignored}; " if ignored else "")
        + end
    )

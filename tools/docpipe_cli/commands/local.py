"""``docpipe local up``: the local stack in the foreground, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path
from typing import Any

from docpipe_cli.console import err, out
from docpipe_cli.target import root_or_cwd


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    local = sub.add_parser("local", help="the local stack").add_subparsers(
        dest="local_command", required=True
    )
    p = local.add_parser("up", parents=[common], help="start the local stack in the foreground")
    p.add_argument("--state-dir", help="persist the emulator's state here between runs")
    p.add_argument("--port", type=int, help="moto server port (default: a free one)")
    p.add_argument("--workers", type=int, help="queue workers (default: the template's MaximumConcurrency)")
    p.add_argument("--invoke-port", type=int, help="Lambda Invoke API port (default: a free one)")
    p.set_defaults(func=run_up)


def run_up(args: argparse.Namespace) -> int:
    from docpipe_cli.local.session import LocalSession

    root = root_or_cwd()
    stop = threading.Event()
    session = LocalSession(
        root,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        port=args.port,
        workers=args.workers,
        serve_invoke=True,
        invoke_port=args.invoke_port,
        log=lambda line: err(f"{time.strftime('%H:%M:%S')} {line}"),
        function_log=err,
    )
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        session.start()
        assert session.local is not None
        bucket = session.local.outputs.get("DocumentsBucketName", "")
        endpoint = session.endpoint
        region = session.local.region
        out("")
        out(f"docpipe local stack is up: endpoint {endpoint}  (Ctrl-C stops it)")
        out(f"  state file: {root / '.aws-sam' / 'local-stack.json'}")
        out("  upload documents:")
        out(
            f"    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {endpoint} "
            f"--region {region} s3 cp ../shared/corpus/pdf/minimal-document.pdf s3://{bucket}/"
        )
        out(
            f"    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {endpoint} "
            f"--region {region} s3 cp --recursive ../shared/corpus/pdf/ s3://{bucket}/corpus/"
        )
        invoke_url = session.local.invoke_endpoint
        out(f"  warm Lambda Invoke API: {invoke_url}  (docpipe invoke uses it)")
        out(
            f"    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {invoke_url} "
            f"--region {region} lambda invoke --function-name BackupFunction "
            """--cli-binary-format raw-in-base64-out --payload '{"action": "list"}' /dev/stdout"""
        )
        out('  then, in another shell: docpipe status, docpipe search "question", docpipe backup create')
        out("")
        while not stop.wait(0.5):
            pass
        err("stopping: letting in-flight invocations finish...")
    finally:
        signal.signal(signal.SIGINT, previous)
        session.stop()
    err("stopped")
    return 0

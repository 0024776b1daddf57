"""``docpipe invoke``: a Docker-free ``sam local invoke`` (the warm sandboxes of the local stack, or cold)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from docpipe_cli.console import err, out
from docpipe_cli.lambda_invoke import invoke_through, local_runner, warm_endpoint
from docpipe_cli.target import resolve_target, root_or_cwd


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "invoke", parents=[common], help="run a function locally (Docker-free sam local invoke)"
    )
    p.add_argument("function", help="logical id, e.g. IngestFunction")
    p.add_argument("--event", "-e", help="event JSON file (events/...)")
    p.add_argument("--built-template", help="use this sam build output as is (no build, throwaway emulator)")
    p.add_argument(
        "--cold", action="store_true", help="start a fresh sandbox even when the local stack has a warm one"
    )
    p.add_argument(
        "--invoke-endpoint",
        help="a Lambda Invoke API with warm sandboxes (default: the running docpipe local up's)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Warm sandboxes of the running local stack, or a cold one; prints the REPORT line and the payload."""
    event = json.loads(Path(args.event).read_text(encoding="utf-8")) if args.event else {}
    root = root_or_cwd()
    if args.built_template:
        result = _invoke_built(Path(args.built_template), args.function, event, root)
    elif getattr(args, "invoke_endpoint", None):
        result = invoke_through(args.invoke_endpoint, args.function, event)
    else:
        target = resolve_target(args)
        if target.local_state is not None:
            url = None if args.cold else warm_endpoint(target)
            if url:
                result = invoke_through(url, args.function, event)
            else:
                with local_runner(target, root) as runner:
                    result = runner.invoke(args.function, event)
        else:
            from docpipe_cli.local.session import LocalSession

            err("(no local stack is running: starting a throwaway one, cold)")
            with LocalSession(root, poll=False, log=err, function_log=err) as session:
                result = session.invoke(args.function, event)
    err(
        f"REPORT RequestId: {result.request_id} Duration: {result.duration_ms:.1f} ms"
        + (f" Init Duration: {result.init_ms:.1f} ms" if result.init_ms is not None else "")
        + (f" Sandbox: {result.sandbox_id} ({'cold' if result.cold else 'warm'})" * bool(result.sandbox_id))
    )
    out(json.dumps(result.payload(), indent=2, default=str))
    return 0 if result.ok else 1


def _invoke_built(built: Path, function: str, event: Any, root: Path) -> Any:
    """Invoke from an existing build folder against a throwaway emulator (no sam build)."""
    from docpipe_cli.local import build
    from docpipe_cli.local.provision import provision
    from docpipe_cli.local.runner import FunctionRunner, function_spec
    from docpipe_cli.local.server import LocalServer
    from docpipe_cli.local.session import emulator_client
    from docpipe_cli.local.stack import Stack

    with LocalServer() as server:
        stack = Stack(built, endpoint=server.endpoint)
        local = provision(stack, lambda s: emulator_client(s, server.endpoint), log=lambda _line: None)
        deps = build.ensure_runtime_deps(root)
        spec = function_spec(stack, built, function, local=local, runtime_deps=deps)
        with FunctionRunner({function: spec}, build.find_python313(), log=err) as runner:
            return runner.invoke(function, event)

"""Running a stack's function for a command: the local stack's warm sandboxes, a cold one, or AWS Lambda.

``docpipe local up`` serves the Lambda Invoke API (``docpipe_cli.local.invoke_api``) on loopback; a
command reaches it with a boto3 ``lambda`` client. Without it the function runs in a sandbox this
process starts (cold), and against AWS through ``lambda invoke``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docpipe_cli.console import err
from docpipe_cli.target import Target, answers, root_or_cwd


def invoke_api_is_up(url: str) -> bool:
    """Whether a Lambda Invoke API (``docpipe local up``'s) answers at ``url``."""
    return answers(f"{url}/2015-03-31/functions/")


def invoke_through(url: str, function: str, event: Any) -> Any:
    """Invoke ``function`` through a Lambda Invoke API: the warm sandboxes of ``docpipe local up``."""
    import boto3
    from botocore.config import Config

    from docpipe_cli.local.runner import Invocation
    from docpipe_cli.local.session import REGION

    # One attempt: a retried invoke would run the handler twice. Reads wait out Lambda's longest timeout.
    client_config = Config(retries={"total_max_attempts": 1}, read_timeout=960, connect_timeout=5)
    session: Any = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    client = session.client("lambda", endpoint_url=url, config=client_config)
    response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    headers = {k.lower(): v for k, v in response["ResponseMetadata"]["HTTPHeaders"].items()}
    payload = json.loads(response["Payload"].read() or b"null")
    init = headers.get("x-docpipe-init-ms")
    failed = "FunctionError" in response
    return Invocation(
        function,
        headers.get("x-amzn-requestid", ""),
        result=None if failed else payload,
        error=payload if failed else None,
        duration_ms=float(headers.get("x-docpipe-duration-ms", 0)),
        init_ms=float(init) if init else None,
        cold=headers.get("x-docpipe-cold") == "true",
        sandbox_id=headers.get("x-docpipe-sandbox-id", ""),
    )


def local_runner(target: Target, root: Path) -> Any:
    """A function runner for the running local stack (its resources, this process's sandboxes)."""
    from docpipe_cli.local import build
    from docpipe_cli.local.runner import FunctionRunner, function_spec
    from docpipe_cli.local.stack import Stack

    state = target.local_state
    built = Path(state.template_path)
    stack = Stack(
        built,
        parameters=state.parameters,
        region=state.region,
        stack_name=state.stack_name,
        endpoint=state.endpoint,
    )
    deps = build.ensure_runtime_deps(root)
    specs = {f: function_spec(stack, built, f, local=state, runtime_deps=deps) for f in stack.function_ids()}
    return FunctionRunner(specs, build.find_python313(), log=err)


def warm_endpoint(target: Target) -> str | None:
    """The local stack's invoke endpoint when it answers; otherwise say that this call runs cold."""
    url = str(target.local_state.invoke_endpoint or "") if target.local_state is not None else ""
    if url and invoke_api_is_up(url):
        return url
    why = f"no invoke endpoint answers at {url}" if url else "the local stack serves no invoke endpoint"
    err(f"({why}: starting a cold sandbox for this call; `docpipe local up` keeps them warm)")
    return None


def invoke_function(target: Target, logical_id: str, name: str, event: dict[str, Any]) -> tuple[bool, Any]:
    """Run a stack function: the local stack's warm sandbox (or a cold one), or lambda invoke on AWS.

    Args:
        logical_id: the function's logical id (the local stack knows it by that).
        name: the target's name for its physical name on AWS (``backup_function``), also the option
            that overrides it (``--backup-function``).

    Returns:
        Whether the handler succeeded, and its payload (the error's, when it failed).
    """
    if target.local_state is not None:
        url = target.local_state.invoke_endpoint
        if url and invoke_api_is_up(url):
            result = invoke_through(url, logical_id, event)
        else:
            with local_runner(target, root_or_cwd()) as runner:
                result = runner.invoke(logical_id, event)
        return result.ok, result.payload()
    function = target.name(name, "--" + name.replace("_", "-"))
    response = target.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    return "FunctionError" not in response, payload

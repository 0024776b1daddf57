"""One local stack in one object: host build, moto server, provisioning, function runner and poller.

``docpipe local up``, ``docpipe demo``, the end-to-end tests and the benchmarks all start the
stack through :class:`LocalSession`, so they exercise the same path.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from docpipe_cli.local import build
from docpipe_cli.local.invoke_api import InvokeServer
from docpipe_cli.local.poller import Poller, event_sources
from docpipe_cli.local.provision import provision
from docpipe_cli.local.runner import FunctionRunner, FunctionSpec, function_spec
from docpipe_cli.local.server import LocalServer
from docpipe_cli.local.stack import DEFAULT_STACK, Stack
from docpipe_cli.local.state import LocalDeployment
from docpipe_cli.template import samconfig_overrides

STATE_FILE = Path(".aws-sam") / "local-stack.json"
REGION = "us-east-1"
_FAKE = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}


def repo_root(start: Path | None = None) -> Path:
    """The folder holding template.yaml: the current directory or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").is_file() and (folder / "layers").is_dir():
            return folder
    from docpipe.exceptions import ConfigError

    raise ConfigError(f"no docpipe checkout (template.yaml + layers/) at or above {here}")


def samconfig_stack_name(root: Path, env: str = "local") -> str:
    path = root / "samconfig.toml"
    if not path.is_file():
        return DEFAULT_STACK
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return str(data.get(env, {}).get("global", {}).get("parameters", {}).get("stack_name", DEFAULT_STACK))


def emulator_client(service: str, endpoint: str, region: str = REGION) -> Any:
    """A boto3 client for the emulator with fake credentials (never the user's real ones)."""
    config = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32)
    session: Any = boto3.session.Session(
        aws_access_key_id=_FAKE["aws_access_key_id"],
        aws_secret_access_key=_FAKE["aws_secret_access_key"],
        aws_session_token=_FAKE["aws_session_token"],
        region_name=region,
    )
    return session.client(service, endpoint_url=endpoint, config=config)


@dataclass
class LocalSession:
    """Start with :meth:`start`; stop with :meth:`stop` (or use it as a context manager)."""

    root: Path
    state_dir: Path | None = None
    port: int | None = None
    workers: int | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    poll: bool = True
    # Serve the Lambda Invoke API from the warm runner (docpipe local up): its URL goes in the state file.
    serve_invoke: bool = False
    invoke_port: int | None = None
    # Where the stack is recorded for other `docpipe` commands to find (`docpipe local up`'s is
    # the repo's .aws-sam/local-stack.json); a second stack beside it passes a file of its own.
    state_file: Path | None = None
    log: Callable[[str], None] = print
    function_log: Callable[[str], None] | None = None
    server: LocalServer | None = None
    stack: Stack | None = None
    local: LocalDeployment | None = None
    runner: FunctionRunner | None = None
    poller: Poller | None = None
    invoke_server: InvokeServer | None = None
    built_template: Path | None = None

    def start(self) -> LocalSession:
        self.log("building functions and layers for this machine (sam build, cached)...")
        self.built_template = build.build_for_host(self.root, log=False)
        runtime_deps = build.ensure_runtime_deps(self.root)
        self.server = LocalServer(port=self.port, state_dir=self.state_dir).start()
        if self.server.replayed_requests:
            self.log(
                f"restored state from {self.server.recording} ({self.server.replayed_requests} requests)"
            )
        self.log(f"moto server listening on {self.server.endpoint}")
        params = samconfig_overrides(self.root / "samconfig.toml", "local")
        params.update(self.parameters)
        self.stack = Stack(
            self.built_template,
            parameters=params,
            region=REGION,
            stack_name=samconfig_stack_name(self.root),
            endpoint=self.server.endpoint,
        )
        self.local = provision(self.stack, self.client, log=self.log)
        specs: dict[str, FunctionSpec] = {
            fid: function_spec(
                self.stack,
                self.built_template,
                fid,
                local=self.local,
                runtime_deps=runtime_deps,
                extra_env=self.extra_env,
            )
            for fid in self.stack.function_ids()
        }
        self.runner = FunctionRunner(specs, build.find_python313(), log=self.function_log)
        if self.serve_invoke:
            self.invoke_server = InvokeServer(self.runner, port=self.invoke_port or 0).start()
            self.local.invoke_endpoint = self.invoke_server.endpoint
            self.log(f"Lambda Invoke API (warm sandboxes) on {self.invoke_server.endpoint}")
        self.local.save(self.state_file or self.root / STATE_FILE)
        sources, schedules, notes = event_sources(self.stack, self.local)
        for note in notes:
            self.log(f"not played: {note}")
        self.poller = Poller(
            self.runner,
            self.client("sqs"),
            sources,
            schedules,
            region=REGION,
            workers=self.workers,
            log=self.log,
        )
        if self.poll:
            self.poller.start()
        return self

    @property
    def endpoint(self) -> str:
        assert self.server is not None, "start() first"
        return self.server.endpoint

    def client(self, service: str) -> Any:
        return emulator_client(service, self.endpoint)

    def invoke(self, function: str, event: Any) -> Any:
        assert self.runner is not None, "start() first"
        return self.runner.invoke(function, event)

    def stop(self) -> None:
        if self.invoke_server is not None:
            self.invoke_server.stop()
        if self.poller is not None:
            self.poller.stop()
        if self.runner is not None:
            self.runner.close()
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> LocalSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

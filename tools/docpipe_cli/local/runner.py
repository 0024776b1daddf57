"""Run a built function the way Lambda does, without Docker: the Docker-free twin of ``sam local invoke``.

Each sandbox is a separate python3.13 process started with ``-I -S`` whose import path holds only the
built function folder (``/var/task``), the built layers' ``python/`` folders (``/opt/python``) and
what the managed runtime ships (boto3 and its dependencies). Its environment is the template's
(Globals, then the function's own, references resolved to the local resources) plus Lambda's
reserved variables, with endpoints pointed at the emulator and fake credentials. A sandbox stays
warm between invocations and serves one at a time; concurrent invocations get more sandboxes, as
Lambda scales. The function's timeout is enforced: the sandbox is killed and the invocation fails
with ``Sandbox.Timedout``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from docpipe.exceptions import ConfigError
from docpipe_cli.local.stack import Stack
from docpipe_cli.local.state import LocalDeployment

BOOTSTRAP = Path(__file__).with_name("_bootstrap.py")
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
PASSED_THROUGH = ("PATH", "LANG", "HOME", "TMPDIR", "SYSTEMROOT")
INIT_TIMEOUT = 10  # seconds, as Lambda allows for on-demand init


@dataclass(frozen=True)
class FunctionSpec:
    """Everything needed to start a sandbox for one function of the built template."""

    logical_id: str
    function_name: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    runtime_deps: Path
    environment: dict[str, str]
    timeout: int
    memory_mb: int
    arn: str

    def import_path(self) -> list[str]:
        return [str(self.code_dir), *(str(p) for p in self.layer_dirs), str(self.runtime_deps)]


@dataclass
class Invocation:
    """The outcome of one invoke, shaped like Lambda's response (``error`` set when it failed)."""

    function: str
    request_id: str
    result: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    init_ms: float | None = None
    cold: bool = False
    sandbox_id: str = ""  # which warm process served it: equal ids prove reuse

    @property
    def ok(self) -> bool:
        return self.error is None

    def payload(self) -> Any:
        """What ``aws lambda invoke`` would write to the output file."""
        return self.result if self.error is None else self.error


def function_spec(
    stack: Stack,
    built_template: Path,
    logical_id: str,
    *,
    local: LocalDeployment,
    runtime_deps: Path,
    extra_env: Mapping[str, str] | None = None,
) -> FunctionSpec:
    """Describe ``logical_id`` of a ``sam build`` output for the runner.

    ``stack`` must be bound to the built template (its CodeUri/ContentUri point at build folders)
    and to the same parameters the local resources were provisioned with.
    """
    resource = stack.resources.get(logical_id)
    if resource is None or not resource["Type"].endswith("::Function"):
        functions = ", ".join(stack.function_ids())
        raise ConfigError(f"{logical_id!r} is not a function of the template; functions: {functions}")
    base = built_template.parent
    code_uri = stack.function_property(logical_id, "CodeUri")
    if not isinstance(code_uri, str):
        raise ConfigError(f"{logical_id}: CodeUri is not a folder; run the host build first")
    code_dir = (base / code_uri).resolve()
    if not code_dir.is_dir():
        raise ConfigError(f"{logical_id}: built code folder {code_dir} is missing; run the host build")
    layer_dirs: list[Path] = []
    arn_to_layer = {
        stack.attributes(lid)["Ref"]: lid
        for lid, r in stack.resources.items()
        if r["Type"] in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
    }
    for arn in stack.function_property(logical_id, "Layers", []) or []:
        layer_id = arn_to_layer.get(str(arn))
        if layer_id is None:
            raise ConfigError(f"{logical_id}: layer {arn} is not built by this template")
        props = stack.resources[layer_id].get("Properties", {})
        content = stack.resolve(props.get("ContentUri", layer_id))
        layer_root = (base / str(content)).resolve()
        python_dir = layer_root / "python"
        if not python_dir.is_dir():
            raise ConfigError(f"{logical_id}: built layer {layer_id} has no python/ folder at {python_dir}")
        # Lambda puts /opt/python/lib/python3.13/site-packages before /opt/python.
        site = python_dir / "lib" / "python3.13" / "site-packages"
        if site.is_dir():
            layer_dirs.append(site)
        layer_dirs.append(python_dir)
    name = stack.name(logical_id)
    env = _lambda_environment(stack, logical_id, name, local)
    env.update(extra_env or {})
    return FunctionSpec(
        logical_id=logical_id,
        function_name=name,
        handler=str(stack.function_property(logical_id, "Handler", "app.handler")),
        code_dir=code_dir,
        layer_dirs=tuple(layer_dirs),
        runtime_deps=runtime_deps,
        environment=env,
        timeout=int(stack.function_property(logical_id, "Timeout", 3)),
        memory_mb=int(stack.function_property(logical_id, "MemorySize", 128)),
        arn=stack.attributes(logical_id)["Arn"],
    )


def _lambda_environment(stack: Stack, logical_id: str, name: str, local: LocalDeployment) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "AWS_REGION": local.region,
            "AWS_DEFAULT_REGION": local.region,
            "AWS_ENDPOINT_URL": local.endpoint,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(stack.function_property(logical_id, "MemorySize", 128)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_SAM_LOCAL": "true",  # Powertools: no X-Ray daemon here, so the tracer stays off
            "POWERTOOLS_TRACE_DISABLED": "true",
            "TZ": ":UTC",
        }
    )
    env.update(stack.function_environment(logical_id))
    return env


class Sandbox:
    """One warm function process; serves one invocation at a time."""

    def __init__(self, spec: FunctionSpec, python: str, log: Callable[[str], None] | None) -> None:
        self.spec = spec
        self.id = uuid.uuid4().hex[:12]
        self.invocations = 0
        env = dict(spec.environment, LAMBDA_TASK_ROOT=str(spec.code_dir), _HANDLER=spec.handler)
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = f"local/{self.id}"
        self._proc = subprocess.Popen(
            [python, "-I", "-S", str(BOOTSTRAP), spec.handler, *spec.import_path()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=spec.code_dir,
            text=True,
            encoding="utf-8",
            bufsize=1,
            start_new_session=True,  # Ctrl-C in the terminal stops the stack, which then ends sandboxes
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr_tail: list[str] = []
        assert self._proc.stdout is not None and self._proc.stderr is not None
        threading.Thread(target=self._pump, args=(self._proc.stdout,), daemon=True).start()
        prefix = f"[{spec.logical_id} {self.id[:6]}] "
        threading.Thread(target=self._pump_logs, args=(self._proc.stderr, prefix, log), daemon=True).start()
        self.init: dict[str, Any] | None = None

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _pump_logs(self, stream: IO[str], prefix: str, log: Callable[[str], None] | None) -> None:
        for line in stream:
            self._stderr_tail = [*self._stderr_tail[-19:], line.rstrip("\n")]
            if log is not None:
                log(prefix + line.rstrip("\n"))

    def _read(self, timeout: float) -> dict[str, Any] | None:
        try:
            line = self._lines.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            return None
        if line is None:
            self._proc.wait(timeout=5)
            tail = "\n".join(self._stderr_tail[-5:])
            return {
                "ok": False,
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: sandbox exited with code {self._proc.returncode}: {tail}",
            }
        data: dict[str, Any] = json.loads(line)
        return data

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def invoke(self, event: Any, request_id: str) -> Invocation:
        timeout = self.spec.timeout
        cold = self.init is None
        if cold:
            # Lambda gives the init phase its own 10 s (on-demand); a slow init is not the handler's time.
            started = time.monotonic()
            self.init = self._read(max(INIT_TIMEOUT, timeout)) or {"ok": False, "timeout": True}
            if not self.init.get("ok"):
                return self._failed_init(request_id, started)
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000) + timeout * 1000
        info = {
            "function_name": self.spec.function_name,
            "invoked_function_arn": self.spec.arn,
            "memory_limit_in_mb": self.spec.memory_mb,
            "aws_request_id": request_id,
            "deadline_ms": deadline_ms,
            "sandbox_id": self.id,
        }
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps({"event": event, "context": info}) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._exited(request_id, started)
        remaining = timeout - (time.monotonic() - started)
        response = self._read(remaining)
        elapsed = (time.monotonic() - started) * 1000
        self.invocations += 1
        result = Invocation(
            self.spec.logical_id, request_id, duration_ms=elapsed, cold=cold, sandbox_id=self.id
        )
        result.init_ms = self.init.get("init_ms") if (cold and self.init) else None
        if response is None:
            self.kill()
            result.error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
            }
            return result
        if response.get("ok"):
            result.result = response.get("result")
        else:
            result.error = {
                k: response[k] for k in ("errorType", "errorMessage", "stackTrace") if k in response
            }
        return result

    def _failed_init(self, request_id: str, started: float) -> Invocation:
        assert self.init is not None
        error: dict[str, Any]
        if self.init.get("timeout"):
            limit = max(INIT_TIMEOUT, self.spec.timeout)
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"INIT phase timed out after {limit:.2f} seconds",
            }
        else:
            error = {k: self.init[k] for k in ("errorType", "errorMessage", "stackTrace") if k in self.init}
        self.kill()
        elapsed = (time.monotonic() - started) * 1000
        return Invocation(
            self.spec.logical_id, request_id, error=error, duration_ms=elapsed, cold=True, sandbox_id=self.id
        )

    def _exited(self, request_id: str, started: float) -> Invocation:
        response = self._read(1.0) or {"errorType": "Runtime.ExitError", "errorMessage": "sandbox exited"}
        error: dict[str, Any] = {k: response[k] for k in ("errorType", "errorMessage") if k in response}
        self.kill()
        return Invocation(
            self.spec.logical_id, request_id, error=error, duration_ms=(time.monotonic() - started) * 1000
        )

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        """End the sandbox: close stdin so the runtime loop ends, then make sure it is gone."""
        if self._proc.stdin is not None and self._proc.poll() is None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=3)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


@dataclass
class FunctionRunner:
    """Warm sandboxes per function, created on demand; ``invoke`` is safe from many threads."""

    specs: dict[str, FunctionSpec]
    python: str
    log: Callable[[str], None] | None = None
    _idle: dict[str, list[Sandbox]] = field(default_factory=dict)
    _all: list[Sandbox] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Invocation:
        """Invoke one function with ``event``; errors come back in ``Invocation.error``, as Lambda's do."""
        spec = self.specs.get(logical_id)
        if spec is None:
            raise ConfigError(f"unknown function {logical_id!r}; known: {', '.join(sorted(self.specs))}")
        sandbox = self._checkout(spec)
        result = sandbox.invoke(event, request_id or str(uuid.uuid4()))
        with self._lock:
            if sandbox.alive and sandbox.init and sandbox.init.get("ok"):
                self._idle.setdefault(logical_id, []).append(sandbox)
            else:
                sandbox.kill()
                if sandbox in self._all:
                    self._all.remove(sandbox)
        return result

    def _checkout(self, spec: FunctionSpec) -> Sandbox:
        with self._lock:
            idle = self._idle.setdefault(spec.logical_id, [])
            while idle:
                sandbox = idle.pop()
                if sandbox.alive:
                    return sandbox
                self._all.remove(sandbox)
            sandbox = Sandbox(spec, self.python, self.log)
            self._all.append(sandbox)
            return sandbox

    def sandboxes(self, logical_id: str) -> int:
        with self._lock:
            return sum(1 for s in self._all if s.spec.logical_id == logical_id)

    def close(self) -> None:
        with self._lock:
            sandboxes, self._all, self._idle = list(self._all), [], {}
        for sandbox in sandboxes:
            sandbox.close()

    def __enter__(self) -> FunctionRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stderr_log(line: str) -> None:
    """Default log sink: function logs on the console's stderr."""
    sys.stderr.write(line + "\n")

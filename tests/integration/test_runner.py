"""The function runner runs built code the way Lambda does: isolated path, template env, timeout."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from docpipe_cli import cli
from docpipe_cli.local.provision import provision
from docpipe_cli.local.runner import FunctionRunner, function_spec
from docpipe_cli.local.server import LocalServer
from docpipe_cli.local.session import emulator_client
from docpipe_cli.local.stack import Stack

pytestmark = pytest.mark.integration

BUILT_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 2
    MemorySize: 256
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: runner-test-table
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: Layer
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: Fn
      Handler: app.handler
      Layers: [!Ref Layer]
      Environment:
        Variables:
          GREETING: hello
"""

PROBE = """
import os, sys, time
import boto3
import helper

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    if event.get("raise"):
        raise ValueError("bad input: " + event["raise"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    print("this print goes to the logs, not to the protocol")
    table = boto3.client("dynamodb").describe_table(TableName=os.environ["TABLE_NAME"])["Table"]["TableName"]
    return {
        "count": COUNT,
        "pid": os.getpid(),
        "path": sys.path,
        "boto3": boto3.__file__,
        "helper": helper.__file__,
        "table": table,
        "greeting": os.environ["GREETING"],
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
        "memory": context.memory_limit_in_mb,
        "function_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
    }
"""


def make_build(tmp_path: Path, app: str, *, layer_module: bool = True) -> Path:
    """A tiny sam-build-shaped folder: template, function folder and a layer's python/ folder."""
    (tmp_path / "Fn").mkdir()
    (tmp_path / "Fn" / "app.py").write_text(textwrap.dedent(app))
    (tmp_path / "Layer" / "python").mkdir(parents=True)
    if layer_module:
        (tmp_path / "Layer" / "python" / "helper.py").write_text("VALUE = 1\n")
    template = tmp_path / "template.yaml"
    template.write_text(BUILT_TEMPLATE)
    return template


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def runner_for(server, runtime_deps, python313):
    runners: list[FunctionRunner] = []

    def make(template: Path) -> FunctionRunner:
        stack = Stack(template, stack_name="runner-test", endpoint=server.endpoint)
        local = provision(stack, lambda s: emulator_client(s, server.endpoint), log=lambda _l: None)
        spec = function_spec(stack, template, "Fn", local=local, runtime_deps=runtime_deps)
        runner = FunctionRunner({"Fn": spec}, python313)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


def test_a_function_sees_only_its_code_its_layers_and_the_runtime_boto3(tmp_path, runner_for, runtime_deps):
    runner = runner_for(make_build(tmp_path, PROBE))

    result = runner.invoke("Fn", {})

    assert result.ok, result.error
    path = result.result["path"]
    assert path[0] == str(tmp_path / "Fn") and path[1] == str(tmp_path / "Layer" / "python")
    assert path[-1] == str(runtime_deps)
    assert not any(".venv" in p or "site-packages" in p for p in path)
    assert result.result["boto3"].startswith(str(runtime_deps))
    assert result.result["helper"].startswith(str(tmp_path / "Layer" / "python"))


def test_template_environment_is_resolved_to_the_local_resources(tmp_path, runner_for):
    runner = runner_for(make_build(tmp_path, PROBE))

    result = runner.invoke("Fn", {}, request_id="req-1")

    assert result.ok, result.error
    assert result.result["table"] == "runner-test-table"  # Globals' !Ref, reached through AWS_ENDPOINT_URL
    assert result.result["greeting"] == "hello"
    assert result.result["request_id"] == "req-1"
    assert result.result["memory"] == 256
    assert 0 < result.result["remaining_ms"] <= 2000
    assert result.result["function_name"].startswith("runner-test-Fn-")


def test_a_warm_sandbox_is_reused_between_invocations(tmp_path, runner_for):
    runner = runner_for(make_build(tmp_path, PROBE))

    first = runner.invoke("Fn", {})
    second = runner.invoke("Fn", {})

    assert first.cold and not second.cold
    assert second.result["pid"] == first.result["pid"]
    assert second.result["count"] == 2


def test_a_handler_exception_is_reported_as_lambda_reports_it(tmp_path, runner_for):
    runner = runner_for(make_build(tmp_path, PROBE))

    result = runner.invoke("Fn", {"raise": "nope"})

    assert not result.ok
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "bad input: nope"
    assert runner.invoke("Fn", {}).ok  # the sandbox survives a handler error


def test_the_timeout_is_enforced_and_the_next_invocation_starts_cold(tmp_path, runner_for):
    runner = runner_for(make_build(tmp_path, PROBE))
    pid = runner.invoke("Fn", {}).result["pid"]

    result = runner.invoke("Fn", {"sleep": 30})

    assert result.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in result.error["errorMessage"]
    assert result.duration_ms < 5000
    after = runner.invoke("Fn", {})
    assert after.cold and after.result["pid"] != pid


def test_docpipe_invoke_reports_a_missing_layer_dependency_as_import_module_error(tmp_path, capsys):
    # pypdf is installed in the dev virtualenv but not in this layer: only an isolated path fails.
    template = make_build(
        tmp_path, "import pypdf\n\ndef handler(event, context):\n    return 'unreachable'\n"
    )
    event = tmp_path / "event.json"
    event.write_text("{}")

    code = cli.main(["invoke", "Fn", "--event", str(event), "--built-template", str(template)])

    assert code == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"] == "Unable to import module 'app': No module named 'pypdf'"


@pytest.fixture
def invoke_api(tmp_path, runner_for):
    from docpipe_cli.local.invoke_api import InvokeServer

    with InvokeServer(runner_for(make_build(tmp_path, PROBE))) as api:
        yield api


def test_docpipe_invoke_through_the_invoke_endpoint_runs_in_one_warm_process(tmp_path, invoke_api, capsys):
    event = tmp_path / "event.json"
    event.write_text("{}")
    argv = ["invoke", "Fn", "--event", str(event), "--invoke-endpoint", invoke_api.endpoint]

    first_code = cli.main(argv)
    first = json.loads(capsys.readouterr().out)
    second_code = cli.main(argv)
    second = json.loads(capsys.readouterr().out)

    assert (first_code, second_code) == (0, 0)
    assert second["pid"] == first["pid"]
    assert (first["count"], second["count"]) == (1, 2)  # module state survived: the same sandbox


def test_the_invoke_endpoint_answers_boto3_as_lambda_does(invoke_api):
    client = emulator_client("lambda", invoke_api.endpoint)

    ok = client.invoke(FunctionName="Fn", Payload=b"{}")
    failed = client.invoke(FunctionName="Fn", Payload=json.dumps({"raise": "nope"}).encode())

    assert ok["StatusCode"] == 200 and "FunctionError" not in ok
    assert json.loads(ok["Payload"].read())["greeting"] == "hello"
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "ValueError"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")


@pytest.mark.parametrize("length", ["-1", "many"])
def test_the_invoke_endpoint_refuses_a_bad_content_length_instead_of_waiting(invoke_api, length):
    import http.client
    from urllib.parse import urlparse

    url = urlparse(invoke_api.endpoint)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.putrequest("POST", "/2015-03-31/functions/Fn/invocations")
    connection.putheader("Content-Length", length)
    connection.endheaders()

    response = connection.getresponse()  # a server that waited for more bytes would time out here

    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "InvalidRequestContentException"
    connection.close()

"""Provisioning reports what it was told but could not use, instead of dropping it silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from docpipe_cli.local.provision import provision
from docpipe_cli.local.stack import Stack

TEMPLATE = """
Parameters:
  MaxReceiveCount:
    Type: Number
    Default: 5
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
"""


def no_clients(service: str) -> None:
    pytest.fail(f"provisioning an IAM role needs no {service} client")


def test_a_misspelled_parameter_override_is_reported_with_the_parameter_it_resembles(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    stack = Stack(template, parameters={"MaxRecieveCount": "2"})
    lines: list[str] = []

    provision(stack, no_clients, log=lines.append)

    assert stack.parameters["MaxReceiveCount"] == "5"  # the override did not apply...
    ignored = [line for line in lines if "MaxRecieveCount" in line]
    assert ignored == [  # ...and the output says so
        "ignored parameter override: MaxRecieveCount is not a template parameter "
        "(did you mean MaxReceiveCount?)"
    ]


def test_a_function_url_is_reported_with_how_to_invoke_it_locally(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        """
Resources:
  SearchFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      FunctionUrlConfig:
        AuthType: AWS_IAM
"""
    )
    lines: list[str] = []

    local = provision(Stack(template), no_clients, log=lines.append)

    [url] = [n for n in local.not_provisioned if n.logical_id == "SearchFunction.FunctionUrlConfig"]
    assert url.type == "AWS::Lambda::Url" and "events/search_function_url.json" in url.why
    assert str(url) in lines

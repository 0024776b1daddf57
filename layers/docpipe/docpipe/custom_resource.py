"""CloudFormation custom resources: run a request's change and send CloudFormation its one answer.

CloudFormation waits (up to an hour) for a PUT of the outcome to the event's pre-signed
``ResponseURL``; a handler that raises without answering leaves the stack hanging. ``answer``
always answers. Written here rather than taken from crhelper (HTTPS-only, and it retries a failed
PUT forever) or cfnresponse (prints the pre-signed URL, a credential, into the logs); urllib3 is
what botocore already brings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import urllib3

from docpipe.exceptions import DocpipeError

MAX_REASON_CHARS = 1000  # CloudFormation shows the reason in the stack's events; keep it readable
_http = urllib3.PoolManager(retries=urllib3.Retry(total=3, backoff_factor=1.0, allowed_methods=["PUT"]))


def answer(
    event: Mapping[str, Any], change: Callable[[Mapping[str, Any]], tuple[str, dict[str, str]]]
) -> dict[str, Any]:
    """Run ``change`` for a Create or Update (nothing for a Delete) and PUT the outcome.

    Args:
        event: the custom resource request.
        change: ``properties -> (physical id, data)``; a ``DocpipeError`` it raises becomes a
            FAILED answer with the error's message (other exceptions too, with their class only).

    Returns:
        The answer that was sent (its body).
    """
    physical_id = str(event.get("PhysicalResourceId") or event["LogicalResourceId"])
    status, reason = "SUCCESS", ""
    data: dict[str, str] = {}
    if event["RequestType"] in ("Create", "Update"):
        try:
            physical_id, data = change(event["ResourceProperties"])
        except DocpipeError as error:
            status, reason = "FAILED", str(error)
        except Exception as error:  # noqa: BLE001 (CloudFormation must hear of every failure)
            status, reason = "FAILED", f"{type(error).__name__} (details in the function's log)"
    body = {
        "Status": status,
        "Reason": reason[:MAX_REASON_CHARS],
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": data,
    }
    payload = json.dumps(body).encode()
    _http.request(
        "PUT",
        str(event["ResponseURL"]),
        body=payload,
        headers={"Content-Type": "", "Content-Length": str(len(payload))},
    )
    return body

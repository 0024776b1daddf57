"""The Docker-free local stack: moto server, provisioning from the template, function runner, SQS poller."""

from __future__ import annotations

__all__ = ["build", "provision", "runner", "poller", "server"]

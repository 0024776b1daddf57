"""What `docpipe local up` provisioned, saved where other commands find it (.aws-sam/local-stack.json)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class NotProvisioned:
    """A template resource the local stack does not create, and why."""

    logical_id: str
    type: str
    why: str

    def __str__(self) -> str:
        return f"not provisioned: {self.logical_id} ({self.type}): {self.why}"


@dataclass
class LocalDeployment:
    """The local stack as provisioned in the emulator: LogicalId -> physical id (name, URL or ARN as
    ``Ref`` returns it), attributes, outputs, and what was not provisioned and why."""

    endpoint: str
    region: str
    account: str
    stack_name: str
    template_path: str
    parameters: dict[str, str]
    refs: dict[str, str]
    attributes: dict[str, dict[str, str]]
    types: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    not_provisioned: list[NotProvisioned] = field(default_factory=list)
    # The warm Lambda Invoke API of `docpipe local up` (empty when nothing serves it).
    invoke_endpoint: str = ""

    def name(self, logical_id: str) -> str:
        """The plain name of a provisioned resource (bucket, queue, table, index, vector bucket)."""
        attrs = self.attributes.get(logical_id, {})
        return attrs.get("Name") or self.refs[logical_id]

    def queue_url(self, logical_id: str) -> str:
        return self.attributes[logical_id]["QueueUrl"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LocalDeployment:
        data = json.loads(text)
        data["not_provisioned"] = [NotProvisioned(**n) for n in data.get("not_provisioned", [])]
        return cls(**data)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LocalDeployment:
        return cls.from_json(path.read_text(encoding="utf-8"))

"""The CreateIndex request for an ``AWS::S3Vectors::Index`` resource's properties (as CloudFormation sends).

The local stack's provisioner and the tests' moto resources both create the template's index: one
mapping from the resource's PascalCase properties to the API's fields keeps the two (and the
template) in step, text search configurations included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def create_index_request(properties: Mapping[str, Any], *, bucket: str, name: str) -> dict[str, Any]:
    """``CreateIndex`` keyword arguments for an index with these (resolved) resource properties."""
    request: dict[str, Any] = {
        "vectorBucketName": bucket,
        "indexName": name,
        "dataType": properties.get("DataType", "float32"),
        "dimension": int(properties["Dimension"]),
        "distanceMetric": properties["DistanceMetric"],
    }
    config = properties.get("MetadataConfiguration") or {}
    metadata: dict[str, Any] = {}
    if config.get("NonFilterableMetadataKeys"):
        metadata["nonFilterableMetadataKeys"] = list(config["NonFilterableMetadataKeys"])
    searchable = [
        {"metadataKey": c["MetadataKey"], **({"language": c["Language"]} if c.get("Language") else {})}
        for c in config.get("TextSearchConfigurations") or []
    ]
    if searchable:
        metadata["textSearchConfigurations"] = searchable
    if metadata:
        request["metadataConfiguration"] = metadata
    return request

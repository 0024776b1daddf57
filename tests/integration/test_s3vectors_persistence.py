"""The local S3 Vectors keeps its state across restarts of a stack with a state directory.

``LocalServer(state_dir=...)`` records every request and replays the recording on the next start
(docpipe_cli.local.server): the index's mode, its text search configuration and its vectors, and so
what QueryVectors answers, must come back as they were.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from docpipe_cli.local.server import LocalServer

pytestmark = [pytest.mark.integration]

WHERE = {"vectorBucketName": "kept-vectors", "indexName": "kept"}


def client(server: LocalServer) -> Any:
    return boto3.client(
        "s3vectors",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - emulator
    )


def answers(s3v: Any) -> tuple[list[str], list[str], Any]:
    vector = s3v.query_vectors(**WHERE, topK=2, queryVector={"float32": [1.0, 0.0, 0.0]})
    text = s3v.query_vectors(**WHERE, topK=2, queryTexts=[{"metadataKey": "body", "text": "bridge"}])
    index = s3v.get_index(**WHERE)["index"]
    return [v["key"] for v in vector["vectors"]], [v["key"] for v in text["vectors"]], index


def test_a_restarted_server_answers_queries_as_before(tmp_path: Path) -> None:
    with LocalServer(state_dir=tmp_path) as server:
        s3v = client(server)
        s3v.create_vector_bucket(vectorBucketName=WHERE["vectorBucketName"])
        s3v.put_vector_bucket_default_index_mode(
            vectorBucketName=WHERE["vectorBucketName"], defaultIndexMode="CLASSIC"
        )
        s3v.create_index(**WHERE, dataType="float32", dimension=3, distanceMetric="cosine")
        s3v.put_vectors(
            **WHERE,
            vectors=[
                {
                    "key": "a",
                    "data": {"float32": [1.0, 0.1, 0.0]},
                    "metadata": {"body": "a bridge over water"},
                },
                {
                    "key": "b",
                    "data": {"float32": [0.0, 1.0, 0.0]},
                    "metadata": {"body": "a tunnel under a hill"},
                },
                {
                    "key": "c",
                    "data": {"float32": [0.9, 0.0, 0.2]},
                    "metadata": {"body": "bridges and bridge tolls"},
                },
            ],
        )
        s3v.delete_vectors(**WHERE, keys=["b"])
        s3v.update_index_mode(**WHERE, indexMode="ENHANCED")
        s3v.update_metadata_configuration(
            **WHERE, add={"textSearchConfigurations": [{"metadataKey": "body"}]}
        )
        s3v.get_index(**WHERE)  # reports BUILDING once; the backfill is then done
        vector, text, _ = answers(s3v)

    with LocalServer(state_dir=tmp_path) as restarted:
        s3v = client(restarted)
        s3v.get_index(**WHERE)  # the replayed configuration reports BUILDING once too
        vector_after, text_after, index = answers(s3v)

    assert restarted.replayed_requests > 0
    assert (vector_after, text_after) == (vector, text) and vector == ["a", "c"] and set(text) == {"a", "c"}
    assert index["indexMode"] == "ENHANCED"
    assert index["metadataConfiguration"]["textSearchConfigurations"] == [
        {"metadataKey": "body", "status": "ACTIVE"}
    ]

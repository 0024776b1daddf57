"""``docpipe index``: the mode and text search status of an index, and switching it in place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from docpipe.vectorstore import S3VectorStore, VectorRecord
from docpipe_cli.cli import main

BUCKET, INDEX = "vectors", "chunks"


@pytest.fixture
def classic_index(monkeypatch: pytest.MonkeyPatch, cli_ignores_local_stack: None) -> Iterator[Any]:
    """An index that holds vectors, made CLASSIC and without text search (a stack from before)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("VECTOR_BUCKET", BUCKET)
    monkeypatch.setenv("VECTOR_INDEX", INDEX)
    with mock_aws():
        client = boto3.client("s3vectors", region_name="us-east-1")
        client.create_vector_bucket(vectorBucketName=BUCKET)
        client.put_vector_bucket_default_index_mode(vectorBucketName=BUCKET, defaultIndexMode="CLASSIC")
        store = S3VectorStore(client, BUCKET, INDEX)
        store.create_index(3)
        store.put([VectorRecord("d#0", [1.0, 0.0, 0.0], {"doc_id": "d", "text": "error E1234 on start"})])
        yield store


def test_index_shows_a_classic_index_without_text_search(classic_index: Any, capsys: Any) -> None:
    assert main(["index"]) == 0

    out = capsys.readouterr().out
    assert f"s3vectors://{BUCKET}/{INDEX}: dimension 3, cosine, mode CLASSIC" in out
    assert "text search: none configured" in out
    assert "dense ranking" in out and "--enable-text-search" in out


def test_enable_text_search_switches_the_index_in_place_and_keeps_its_vectors(
    classic_index: Any, capsys: Any
) -> None:
    assert main(["index", "--enable-text-search", "--language", "en"]) == 0

    out = capsys.readouterr().out
    assert "changed: index mode CLASSIC -> ENHANCED" in out
    assert "changed: text search on 'text' added (language en)" in out
    assert "mode ENHANCED" in out
    info = classic_index.wait_for_text_search(("text",), poll=0.0)
    assert info.text_search_ready(("text",))
    [hit] = classic_index.query(None, k=1, texts={"text": "E1234"}).matches
    assert hit.key == "d#0" and hit.bm25["text"] > 0  # the vector written before, searchable now

"""Outside clients of the stack's S3 Vectors index: plain boto3 and langchain-aws, as a user runs them.

By default the stack is ``docpipe local up``'s (``LocalSession``: moto server with the local S3
Vectors, the functions, the queue poller): three PDFs of the corpus go into the documents bucket,
IngestFunction indexes them, and then clients that know nothing of docpipe query the index.

The same assertions run against a deployed stack when ``DOCPIPE_AWS_STACK`` names it (with AWS
credentials in the environment or ``DOCPIPE_AWS_PROFILE``): the documents are uploaded under a
prefix of their own, indexed by the deployed pipeline, queried, and deleted again.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from langchain_core.embeddings import Embeddings

from docpipe.embeddings.base import Embedder
from docpipe.ids import doc_id
from docpipe_cli.local.s3vectors.api import PAGE_SIZE_ENV
from docpipe_cli.local.server import free_port
from docpipe_cli.local.session import LocalSession
from tests.conftest import PDF_CORPUS_DIR, ROOT

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(900)]

AWS_STACK_ENV = "DOCPIPE_AWS_STACK"
AWS_PROFILE_ENV = "DOCPIPE_AWS_PROFILE"
DOCUMENTS = ("crazyones-pdfa.pdf", "google-doc-document.pdf", "pdflatex-4-pages.pdf")
CRAZY = "crazyones-pdfa.pdf"
ZEN = "google-doc-document.pdf"
CRAZY_QUESTION = "Here's to the crazy ones. The misfits. The rebels."
LOCAL_PAGE_SIZE = 4  # the local server pages QueryVectors at 4 here, so three documents span pages


class LangChainEmbedder(Embeddings):
    """docpipe's embedder (the stack's model) behind LangChain's interface, for AmazonS3Vectors."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in self.embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return list(self.embedder.embed_query(text))


@dataclass
class Index:
    """Where the clients point, and what the pipeline indexed there."""

    client: Any
    bucket: str
    name: str
    prefix: str
    embedder: Embedder
    chunks: dict[str, int]  # document key -> chunk count, from the registry
    searchable: bool
    local: bool

    @property
    def where(self) -> dict[str, str]:
        return {"vectorBucketName": self.bucket, "indexName": self.name}

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def mine(self) -> dict[str, Any]:
        """The filter that keeps a query to this test's documents (a deployed index holds others)."""
        return {"key": {"$startsWith": self.prefix}}

    def vector(self, text: str) -> dict[str, list[float]]:
        return {"float32": list(self.embedder.embed_query(text))}


def _wait_indexed(
    dynamodb: Any, table: str, bucket: str, keys: Sequence[str], timeout: float
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    chunks: dict[str, int] = {}
    while True:
        for key in keys:
            item = dynamodb.get_item(
                TableName=table, Key={"doc_id": {"S": doc_id(bucket, key)}}, ConsistentRead=True
            ).get("Item")
            state = item.get("state", {}).get("S") if item else None
            assert state != "skipped", f"{key} was skipped: {item}"
            if state == "indexed":
                chunks[key] = int(item["chunk_count"]["N"])
        if len(chunks) == len(keys):
            return chunks
        assert time.monotonic() < deadline, f"not indexed after {timeout:.0f} s: {set(keys) - set(chunks)}"
        time.sleep(2)


def _text_search_on(client: Any, where: dict[str, str], *, may_add: bool) -> bool:
    """Whether ``text`` is full-text searchable (ACTIVE); the local stack's index gets it if not yet."""
    for _ in range(30):
        index = client.get_index(**where)["index"]
        configs = {
            c["metadataKey"]: c.get("status", "ACTIVE")
            for c in index.get("metadataConfiguration", {}).get("textSearchConfigurations", [])
        }
        if configs.get("text") == "ACTIVE":
            return True
        if "text" not in configs:
            if not may_add:
                return False
            # What UpdateMetadataConfiguration does to a stack whose template predates text search.
            client.update_metadata_configuration(
                **where, add={"textSearchConfigurations": [{"metadataKey": "text", "language": "en"}]}
            )
        time.sleep(1)
    return False


@pytest.fixture(scope="module", params=["local", "aws"])
def index(request: pytest.FixtureRequest) -> Iterator[Index]:
    """The local stack, then (when ``DOCPIPE_AWS_STACK`` is set) the deployed one."""
    if request.param == "local":
        yield from _local()
    elif os.environ.get(AWS_STACK_ENV):
        yield from _deployed(os.environ[AWS_STACK_ENV])
    else:
        pytest.skip(
            f"{AWS_STACK_ENV} is not set: set it to a deployed stack's name (with AWS credentials, or "
            f"{AWS_PROFILE_ENV}) to run these clients against AWS too"
        )


def _local() -> Iterator[Index]:
    from docpipe.embeddings.offline import OfflineEmbedder

    os.environ[PAGE_SIZE_ENV] = str(LOCAL_PAGE_SIZE)  # the server runs in this process
    # Its own state file: the e2e module's CLI tests read the repo's, and may run beside this one.
    state_file = Path(tempfile.mkdtemp(prefix="docpipe-clients-")) / "local-stack.json"
    session = LocalSession(
        ROOT, port=free_port(), workers=1, poll=True, state_file=state_file, log=lambda _line: None
    )
    session.start()
    try:
        assert session.local is not None and session.poller is not None
        outputs = session.local.outputs
        bucket = outputs["DocumentsBucketName"]
        s3 = session.client("s3")
        for name in DOCUMENTS:
            s3.put_object(Bucket=bucket, Key=f"clients/{name}", Body=(PDF_CORPUS_DIR / name).read_bytes())
        assert session.poller.wait_until_drained(timeout=420)
        keys = [f"clients/{name}" for name in DOCUMENTS]
        chunks = _wait_indexed(session.client("dynamodb"), outputs["DocumentsTableName"], bucket, keys, 60)
        # A client of the local stack is a plain boto3 client pointed at its endpoint.
        client = boto3.client(
            "s3vectors",
            endpoint_url=session.endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - emulator
        )
        where = {"vectorBucketName": outputs["VectorBucketName"], "indexName": outputs["VectorIndexName"]}
        dimension = int(client.get_index(**where)["index"]["dimension"])
        yield Index(
            client=client,
            bucket=where["vectorBucketName"],
            name=where["indexName"],
            prefix="clients/",
            embedder=OfflineEmbedder(dimension=dimension),
            chunks=chunks,
            searchable=_text_search_on(client, where, may_add=True),
            local=True,
        )
    finally:
        os.environ.pop(PAGE_SIZE_ENV, None)
        session.stop()


def _deployed(stack_name: str) -> Iterator[Index]:
    from botocore.exceptions import BotoCoreError, ClientError

    # Real credentials: read before the suite's fake ones apply (they are set per test).
    aws = boto3.Session(profile_name=os.environ.get(AWS_PROFILE_ENV))
    try:
        stack = aws.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    except (BotoCoreError, ClientError) as error:
        pytest.skip(
            f"{AWS_STACK_ENV}={stack_name}, but the stack cannot be read with these credentials: {error}"
        )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    credentials = aws.get_credentials().get_frozen_credentials()
    session = boto3.Session(
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
        region_name=aws.region_name,
    )
    client = session.client("s3vectors")
    where = {"vectorBucketName": outputs["VectorBucketName"], "indexName": outputs["VectorIndexName"]}
    dimension = int(client.get_index(**where)["index"]["dimension"])
    if outputs.get("EmbeddingProvider", "bedrock") == "offline":
        from docpipe.embeddings.offline import OfflineEmbedder

        embedder: Embedder = OfflineEmbedder(dimension=dimension)
    else:
        from docpipe.embeddings.bedrock import BedrockEmbedder

        embedder = BedrockEmbedder(session.client("bedrock-runtime"), dimension=dimension)
    bucket = outputs["DocumentsBucketName"]
    prefix = f"{outputs.get('DocumentPrefix', '')}clients-test/{uuid.uuid4().hex[:12]}/"
    s3 = session.client("s3")
    keys = [f"{prefix}{name}" for name in DOCUMENTS]
    try:
        for key, name in zip(keys, DOCUMENTS, strict=True):
            s3.put_object(Bucket=bucket, Key=key, Body=(PDF_CORPUS_DIR / name).read_bytes())
        chunks = _wait_indexed(session.client("dynamodb"), outputs["DocumentsTableName"], bucket, keys, 600)
        yield Index(
            client=client,
            bucket=where["vectorBucketName"],
            name=where["indexName"],
            prefix=prefix,
            embedder=embedder,
            chunks=chunks,
            searchable=_text_search_on(client, where, may_add=False),
            local=False,
        )
    finally:
        for key in keys:
            s3.delete_object(Bucket=bucket, Key=key)


def document_keys(response: dict[str, Any]) -> list[str]:
    return [v["metadata"]["key"] for v in response["vectors"]]


def require_text_search(index: Index) -> None:
    if not index.searchable:
        pytest.skip(
            "the deployed stack's index has no ACTIVE full-text search on 'text' "
            "(deploy the current template)"
        )


# -- plain boto3 ---------------------------------------------------------------------------------------


def test_boto3_vector_query_finds_the_document_a_sentence_is_taken_from(index: Index) -> None:
    response = index.client.query_vectors(
        **index.where,
        topK=3,
        queryVector=index.vector(CRAZY_QUESTION),
        filter=index.mine(),
        returnMetadata=True,
        returnDistance=True,
    )

    assert document_keys(response)[0] == index.key(CRAZY)
    distances = [v["distance"] for v in response["vectors"]]
    assert distances == sorted(distances) and response["distanceMetric"] in ("cosine", "euclidean")


def test_boto3_text_query_ranks_by_the_words_a_document_contains(index: Index) -> None:
    require_text_search(index)

    response = index.client.query_vectors(
        **index.where,
        topK=3,
        queryTexts=[{"metadataKey": "text", "text": "misfits rebels troublemakers"}],
        filter=index.mine(),
        returnMetadata=True,
        returnScores=True,
    )

    assert document_keys(response)[0] == index.key(CRAZY)
    assert response["vectors"][0]["scores"]["bm25Scores"][0]["metadataKey"] == "text"


def test_boto3_hybrid_query_fuses_both_rankings(index: Index) -> None:
    require_text_search(index)

    response = index.client.query_vectors(
        **index.where,
        topK=3,
        queryVector=index.vector("Beautiful is better than ugly"),
        queryTexts=[{"metadataKey": "text", "text": "beautiful ugly explicit implicit"}],
        filter=index.mine(),
        returnMetadata=True,
        returnScores=True,
    )

    assert document_keys(response)[0] == index.key(ZEN)
    fused = [v["scores"]["fused"] for v in response["vectors"]]
    assert fused == sorted(fused, reverse=True) and fused[0] > 0


def test_boto3_filter_keeps_the_answer_to_the_documents_it_names(index: Index) -> None:
    response = index.client.query_vectors(
        **index.where,
        topK=5,
        queryVector=index.vector("Beautiful is better than ugly"),  # nearest: the Zen of Python
        filter={"key": index.key(CRAZY)},
        returnMetadata=True,
    )

    assert response["vectors"] and set(document_keys(response)) == {index.key(CRAZY)}


def test_boto3_paginator_returns_every_chunk_of_the_documents_over_pages(index: Index) -> None:
    total = sum(index.chunks.values())
    paginator = index.client.get_paginator("query_vectors")

    pages = list(
        paginator.paginate(
            **index.where,
            topK=total,
            queryVector=index.vector(CRAZY_QUESTION),
            filter=index.mine(),
            returnMetadata=True,
        )
    )

    found = [v for page in pages for v in page["vectors"]]
    assert len(found) == total and len({v["key"] for v in found}) == total
    assert {v["metadata"]["key"] for v in found} == {index.key(name) for name in DOCUMENTS}
    if index.local:
        assert len(pages) == -(-total // LOCAL_PAGE_SIZE)  # followed nextToken to the end


# -- langchain-aws -------------------------------------------------------------------------------------


def test_langchain_amazon_s3_vectors_similarity_search_returns_the_document(index: Index) -> None:
    from langchain_aws.vectorstores import AmazonS3Vectors

    store = AmazonS3Vectors(
        vector_bucket_name=index.bucket,
        index_name=index.name,
        embedding=LangChainEmbedder(index.embedder),
        page_content_metadata_key="text",  # where docpipe keeps a chunk's text
        create_index_if_not_exist=False,
        client=index.client,
    )

    documents = store.similarity_search(CRAZY_QUESTION, k=2, filter=index.mine())

    assert documents[0].metadata["key"] == index.key(CRAZY)
    assert "crazy ones" in documents[0].page_content.lower()

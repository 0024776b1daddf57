"""BackupService against moto: round trips, merge, list, verify, prune and failed uploads."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from docpipe.backup import BackupRequest, BackupService
from docpipe.backup import reader as backup_reader
from docpipe.backup import service as backup_service
from docpipe.config import Settings
from docpipe.exceptions import AWSError, BackupError, IndexMismatchError, InvalidInputError, NotFoundError
from docpipe.registry import DocumentRegistry
from docpipe.s3 import S3Client
from docpipe.vectorstore import S3VectorStore

BACKUPS = "docpipe-backups-test"
VECTOR_BUCKET = "docpipe-vectors-test"
INDEX = "docs"
TABLE = "docpipe-documents-test"
START = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


class Clock:
    """A settable clock: backups and retention decisions see exactly the time a test sets."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Env:
    s3: Any
    vectors: Any
    dynamodb: Any
    clock: Clock
    settings: Settings

    def service(self, **kwargs: Any) -> BackupService:
        settings = kwargs.pop("settings", self.settings)
        return BackupService(
            settings,
            s3=S3Client(self.s3),
            store=S3VectorStore(self.vectors, VECTOR_BUCKET, settings.vector_index),
            registry=DocumentRegistry(self.dynamodb, TABLE),
            now=self.clock,
            **kwargs,
        )

    def store(self, index: str = INDEX) -> S3VectorStore:
        return S3VectorStore(self.vectors, VECTOR_BUCKET, index)

    def registry(self) -> DocumentRegistry:
        return DocumentRegistry(self.dynamodb, TABLE)


def random_vector(rng: random.Random, dimension: int) -> list[float]:
    """Values that are exactly float32, as S3 Vectors stores them."""
    return array("f", (rng.uniform(-1, 1) for _ in range(dimension))).tolist()


def seed_vectors(env: Env, count: int, *, dimension: int = 8, index: str = INDEX, seed: int = 7) -> None:
    """Put synthetic vectors with boto3 directly (not through the code under test)."""
    rng = random.Random(seed)
    batch: list[dict[str, Any]] = []
    for n in range(count):
        doc = f"{n // 10:032x}"
        batch.append(
            {
                "key": f"{doc}#{n % 10}",
                "data": {"float32": random_vector(rng, dimension)},
                "metadata": {
                    "doc_id": doc,
                    "chunk_no": n % 10,
                    "page": 1 + n % 3,
                    "text": f'chunk {n} – naïve café text with a "quote" and a newline\nhere',
                    "source_uri": f"s3://docs/file-{n // 10}.pdf",
                    "tags": ["a", "b"],
                },
            }
        )
        if len(batch) == 500:
            env.vectors.put_vectors(vectorBucketName=VECTOR_BUCKET, indexName=index, vectors=batch)
            batch = []
    if batch:
        env.vectors.put_vectors(vectorBucketName=VECTOR_BUCKET, indexName=index, vectors=batch)


def seed_registry(env: Env, count: int) -> None:
    for n in range(count):
        env.dynamodb.put_item(
            TableName=TABLE,
            Item={
                "doc_id": {"S": f"{n:032x}"},
                "bucket": {"S": "docs"},
                "key": {"S": f"file-{n}.pdf"},
                "state": {"S": "indexed" if n % 4 else "skipped"},
                "chunk_count": {"N": "10"},
                "seconds": {"N": "1.25"},
                "pages": {"N": str(n)},
                "created_at": {"S": "2025-03-01T12:00:00.000Z"},
            },
        )


def create_index(env: Env, index: str = INDEX, *, dimension: int = 8, metric: str = "cosine") -> None:
    env.vectors.create_index(
        vectorBucketName=VECTOR_BUCKET,
        indexName=index,
        dataType="float32",
        dimension=dimension,
        distanceMetric=metric,
        metadataConfiguration={"nonFilterableMetadataKeys": ["text", "source_uri"]},
    )


def vector_state(env: Env, index: str = INDEX) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Every vector as exact float32 bytes plus metadata, read with boto3 directly."""
    response = env.vectors.list_vectors(
        vectorBucketName=VECTOR_BUCKET, indexName=index, returnData=True, returnMetadata=True
    )
    assert not response.get("nextToken")
    return {
        v["key"]: (array("f", v["data"]["float32"]).tobytes(), v.get("metadata") or {})
        for v in response["vectors"]
    }


def registry_state(env: Env) -> dict[str, dict[str, Any]]:
    items = env.dynamodb.scan(TableName=TABLE)["Items"]
    return {item["doc_id"]["S"]: item for item in items}


def index_names(env: Env) -> set[str]:
    return {i["indexName"] for i in env.vectors.list_indexes(vectorBucketName=VECTOR_BUCKET)["indexes"]}


def pending_uploads(env: Env) -> list[dict[str, Any]]:
    return list(env.s3.list_multipart_uploads(Bucket=BACKUPS).get("Uploads", []))


def count_calls(client: Any, operation: str) -> Callable[[], int]:
    calls = {"n": 0}

    def hook(**_: Any) -> None:
        calls["n"] += 1

    client.meta.events.register(f"before-call.{client.meta.service_model.service_name}.{operation}", hook)
    return lambda: calls["n"]


@contextlib.contextmanager
def backup_environment() -> Iterator[Env]:
    """Buckets, vector bucket and registry table in moto; other backup test modules reuse it."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BACKUPS)
        s3.put_bucket_versioning(Bucket=BACKUPS, VersioningConfiguration={"Status": "Enabled"})
        vectors = boto3.client("s3vectors", region_name="us-east-1")
        vectors.create_vector_bucket(vectorBucketName=VECTOR_BUCKET)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "doc_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "doc_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        settings = Settings(
            stage="test",
            stack_name="docpipe-test",
            documents_table=TABLE,
            vector_bucket=VECTOR_BUCKET,
            vector_index=INDEX,
            backups_bucket=BACKUPS,
            embedding_provider="offline",
            embedding_model_id="l2_supercat",
            embedding_dimension=64,
            backup_retention_count=3,
        )
        yield Env(s3=s3, vectors=vectors, dynamodb=dynamodb, clock=Clock(), settings=settings)


def seed_default(env: Env) -> Env:
    create_index(env)
    seed_vectors(env, 1_234)
    seed_registry(env, 40)
    return env


@pytest.fixture
def env() -> Iterator[Env]:
    with backup_environment() as environment:
        yield environment


@pytest.fixture
def seeded(env: Env) -> Env:
    return seed_default(env)


# ---------------------------------------------------------------------------------- round trips


def test_restore_after_wiping_index_and_registry_brings_back_identical_data(seeded: Env) -> None:
    # Given a backup of 1,234 vectors in several shards and 40 registry items
    service = seeded.service(shard_max_bytes=4096)
    before_vectors, before_items = vector_state(seeded), registry_state(seeded)
    result = service.backup()
    assert result.vector_shards > 3
    # When the index and the registry are wiped and the backup is restored
    seeded.vectors.delete_index(vectorBucketName=VECTOR_BUCKET, indexName=INDEX)
    for doc_id in list(before_items):
        seeded.dynamodb.delete_item(TableName=TABLE, Key={"doc_id": {"S": doc_id}})
    report = service.restore("latest")
    # Then float32 bytes, metadata and registry items are identical
    assert report.created_index and report.vectors_restored == 1_234 and report.documents_restored == 40
    assert vector_state(seeded) == before_vectors
    assert registry_state(seeded) == before_items


def test_replace_restore_removes_vectors_and_documents_added_after_the_backup(seeded: Env) -> None:
    service = seeded.service()
    before_vectors, before_items = vector_state(seeded), registry_state(seeded)
    service.backup()
    seed_vectors(seeded, 5, seed=99)  # overwrites 5 keys with other data
    seeded.vectors.put_vectors(
        vectorBucketName=VECTOR_BUCKET,
        indexName=INDEX,
        vectors=[{"key": "later#0", "data": {"float32": [0.5] * 8}, "metadata": {"doc_id": "later"}}],
    )
    seed_registry(seeded, 45)

    report = service.restore("latest", mode="replace")

    assert report.vectors_deleted == 1_235 and not report.created_index
    assert vector_state(seeded) == before_vectors
    assert registry_state(seeded) == before_items


def test_merge_restore_into_a_new_index_creates_it_and_leaves_the_live_index_alone(seeded: Env) -> None:
    service = seeded.service()
    live_before = vector_state(seeded)
    service.backup()

    report = service.restore("latest", target_index="docs-restored", mode="merge")

    assert report.created_index and report.target_index == "docs-restored"
    info = seeded.store("docs-restored").describe()
    assert (info.dimension, info.distance_metric) == (8, "cosine")
    assert vector_state(seeded, "docs-restored") == live_before
    assert vector_state(seeded) == live_before


def test_merge_restore_keeps_vectors_that_the_backup_does_not_hold(seeded: Env) -> None:
    service = seeded.service()
    service.backup()
    extra = {"key": "extra#0", "data": {"float32": [0.25] * 8}, "metadata": {"doc_id": "extra"}}
    seeded.vectors.put_vectors(vectorBucketName=VECTOR_BUCKET, indexName=INDEX, vectors=[extra])

    service.restore("latest", mode="merge")

    state = vector_state(seeded)
    assert len(state) == 1_235 and "extra#0" in state


def test_running_the_same_restore_twice_gives_the_same_state(seeded: Env) -> None:
    service = seeded.service()
    service.backup()
    service.restore("latest", mode="merge")
    first = (vector_state(seeded), registry_state(seeded))

    service.restore("latest", mode="merge")
    service.restore("latest", mode="replace")

    assert (vector_state(seeded), registry_state(seeded)) == first


def test_an_empty_index_and_registry_round_trip(env: Env) -> None:
    create_index(env)
    service = env.service()

    result = service.backup()
    report = service.restore("latest", target_index="empty-copy")

    assert (result.vector_count, result.document_count, result.vector_shards) == (0, 0, 0)
    assert report.vectors_restored == 0 and vector_state(env, "empty-copy") == {}


def test_restore_refuses_an_existing_index_with_another_dimension(seeded: Env) -> None:
    service = seeded.service()
    service.backup()
    create_index(seeded, "wide", dimension=16)
    items_before = registry_state(seeded)

    with pytest.raises(IndexMismatchError, match="dimension 16"):
        service.restore("latest", target_index="wide", mode="replace")

    assert vector_state(seeded, "wide") == {}
    assert registry_state(seeded) == items_before


def test_restore_refuses_an_existing_index_with_another_metric(seeded: Env) -> None:
    service = seeded.service()
    service.backup()
    create_index(seeded, "euclid", metric="euclidean")

    with pytest.raises(IndexMismatchError, match="euclidean"):
        service.restore("latest", target_index="euclid")


def test_restore_can_leave_the_registry_untouched(seeded: Env) -> None:
    service = seeded.service()
    service.backup()
    seed_registry(seeded, 45)
    items = registry_state(seeded)

    report = service.restore("latest", target_index="side-copy", restore_registry=False)

    assert report.documents_restored == 0 and not report.registry_restored
    assert registry_state(seeded) == items


def test_restore_into_a_new_index_leaves_the_live_registry_unchanged_by_default(seeded: Env) -> None:
    # Given a backup, then a registry that moved on
    service = seeded.service()
    service.backup()
    seed_registry(seeded, 45)
    items = registry_state(seeded)
    # When the backup is restored beside the live index, in replace mode, saying nothing else
    report = service.restore("latest", target_index="side-copy", mode="replace")
    # Then the copy holds the vectors and the live registry is exactly as it was
    assert report.vectors_restored == 1_234 and not report.registry_restored
    assert report.documents_restored == 0
    assert registry_state(seeded) == items


def test_restore_into_the_live_index_restores_the_registry_by_default(seeded: Env) -> None:
    service = seeded.service()
    service.backup()
    items = registry_state(seeded)
    seed_registry(seeded, 45)

    report = service.restore("latest", target_index=INDEX, mode="replace")

    assert report.registry_restored and report.documents_restored == 40
    assert registry_state(seeded) == items


def test_restore_into_a_new_index_restores_the_registry_when_asked(seeded: Env) -> None:
    service = seeded.service()
    service.backup()
    items = registry_state(seeded)
    seed_registry(seeded, 45)

    report = service.restore("latest", target_index="side-copy", restore_registry=True)

    assert report.registry_restored and registry_state(seeded) == items


def test_a_restore_failing_after_spooling_a_shards_keys_closes_the_spool(
    seeded: Env, monkeypatch: Any
) -> None:
    # Given a backup whose keys member no longer matches on the writing pass (the object changed)
    service = seeded.service(shard_max_bytes=4096)
    service.backup()
    spools: list[Any] = []
    real_spool = backup_reader.tempfile.SpooledTemporaryFile

    def tracked(*args: Any, **kwargs: Any) -> Any:
        spool = real_spool(*args, **kwargs)
        spools.append(spool)
        return spool

    def changed(_: Any, fact: Any) -> None:
        raise BackupError(f"member {fact.name!r} changed between the validation and the restore pass")

    monkeypatch.setattr(backup_reader.tempfile, "SpooledTemporaryFile", tracked)
    monkeypatch.setattr(backup_reader, "_check_digest", changed)
    # When the restore stops right after spooling the first shard's keys
    with pytest.raises(BackupError, match="changed between"):
        service.restore("latest", target_index="side-copy")
    # Then the spool it opened is closed, not left to the garbage collector
    assert spools and all(spool.closed for spool in spools)


def test_backup_of_a_missing_index_fails_without_leaving_anything(env: Env) -> None:
    with pytest.raises(NotFoundError):
        env.service().backup()
    assert env.service().list_backups() == []
    assert pending_uploads(env) == []


# ------------------------------------------------------------------------------------- archive


def test_archive_holds_shards_registry_and_a_manifest_written_last(seeded: Env) -> None:
    import io
    import json
    import tarfile

    result = seeded.service(shard_max_bytes=8192).backup()
    body = seeded.s3.get_object(Bucket=BACKUPS, Key=result.key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        f32 = tar.extractfile("vectors/shard-00000.f32").read()  # type: ignore[union-attr]
    assert names[-1] == "manifest.json"
    assert names[:2] == ["vectors/shard-00000.jsonl", "vectors/shard-00000.f32"]
    assert "registry/items-00000.jsonl" in names
    assert manifest["format_version"] == 1
    assert manifest["counts"] == {"vectors": 1_234, "documents": 40}
    assert manifest["index"]["dimension"] == 8 and manifest["index"]["data_type"] == "float32"
    assert manifest["embedding"]["model_id"] == "l2_supercat"
    assert manifest["stack"] == {"name": "docpipe-test", "stage": "test"}
    assert {m["name"] for m in manifest["members"]} == set(names) - {"manifest.json"}
    assert len(f32) == 4 * 8 * manifest["members"][0]["count"]
    assert result.key.startswith(f"backups/{INDEX}/20250301T120000.000000Z")


# ---------------------------------------------------------------------------------------- list


def test_list_shows_complete_backups_newest_first_from_metadata_only(seeded: Env) -> None:
    service = seeded.service()
    first = service.backup()
    seeded.clock.advance(hours=1)
    seed_vectors(seeded, 10, seed=3)  # same keys, new data: counts stay
    seed_registry(seeded, 41)
    second = service.backup()
    seeded.clock.advance(hours=2)
    gets = count_calls(seeded.s3, "GetObject")

    backups = service.list_backups()

    assert [b.key for b in backups] == [second.key, first.key]
    newest = backups[0]
    assert (newest.vector_count, newest.document_count, newest.dimension) == (1_234, 41, 8)
    assert (newest.embedding_provider, newest.embedding_model) == ("offline", "l2_supercat")
    assert newest.index == INDEX and newest.size == second.size and newest.age_seconds == 7200
    assert gets() == 0


def test_list_ignores_objects_that_are_not_marked_complete(seeded: Env) -> None:
    seeded.s3.put_object(Bucket=BACKUPS, Key=f"backups/{INDEX}/20250101T000000.000000Z.tar.gz", Body=b"x")
    seeded.s3.put_object(
        Bucket=BACKUPS,
        Key=f"backups/{INDEX}/20250102T000000.000000Z.tar.gz",
        Body=b"x",
        Metadata={"docpipe-status": "writing"},
    )

    assert seeded.service().list_backups() == []
    with pytest.raises(NotFoundError, match="no complete backup"):
        seeded.service().restore("latest")


# -------------------------------------------------------------------------------------- verify


def test_verify_accepts_an_intact_backup_and_matches_the_live_index(seeded: Env) -> None:
    service = seeded.service(shard_max_bytes=4096)
    service.backup()

    report = service.verify("latest", compare_live=True)

    assert report.ok and report.vector_count == 1_234 and report.document_count == 40
    assert report.live_compared and report.live_matches


def test_verify_reports_missing_extra_and_changed_keys_against_the_live_index(seeded: Env) -> None:
    service = seeded.service()
    service.backup()
    store = seeded.store()
    store.delete(["00000000000000000000000000000000#0", "00000000000000000000000000000000#1"])
    seeded.vectors.put_vectors(
        vectorBucketName=VECTOR_BUCKET,
        indexName=INDEX,
        vectors=[
            {"key": "new#0", "data": {"float32": [0.0] * 8}, "metadata": {}},
            {
                "key": "00000000000000000000000000000001#3",
                "data": {"float32": [1.0] * 8},
                "metadata": {"doc_id": "changed"},
            },
        ],
    )

    report = service.verify("latest", compare_live=True)

    assert report.ok and not report.live_matches
    assert (report.live_missing, report.live_extra, report.live_changed) == (2, 1, 1)
    assert report.missing_keys == ["00000000000000000000000000000000#0", "00000000000000000000000000000000#1"]
    assert report.extra_keys == ["new#0"]
    assert report.changed_keys == ["00000000000000000000000000000001#3"]


def test_verify_reports_a_tampered_archive_with_its_member_and_rule(seeded: Env) -> None:
    import gzip
    import io
    import tarfile

    service = seeded.service()
    key = service.backup().key
    original = seeded.s3.get_object(Bucket=BACKUPS, Key=key)
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(original["Body"].read()), mode="r:gz") as src,
        tarfile.open(fileobj=out, mode="w:gz", format=tarfile.USTAR_FORMAT) as dst,
    ):
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "vectors/shard-00000.f32":
                data = bytes([data[0] ^ 1]) + data[1:]
            dst.addfile(member, io.BytesIO(data))
    seeded.s3.put_object(Bucket=BACKUPS, Key=key, Body=out.getvalue(), Metadata=original["Metadata"])
    assert gzip.decompress(out.getvalue())  # still a valid gzip stream

    report = service.verify(key)

    assert not report.ok
    assert (report.rule, report.member) == ("checksum_mismatch", "vectors/shard-00000.f32")


# ------------------------------------------------------------------------------ failed backups


def test_backup_interrupted_mid_upload_leaves_no_listed_backup_and_no_pending_upload(env: Env) -> None:
    # Given an index big enough for several 5 MiB parts (3,000 x 1,024 float32 = 12 MB)
    create_index(env, dimension=1024)
    seed_vectors(env, 3_000, dimension=1024)
    service = env.service(part_size=5 * 1024 * 1024)
    parts = {"n": 0}

    def fail_second_part(**_: Any) -> None:
        parts["n"] += 1
        if parts["n"] == 2:
            raise ConnectionResetError("injected failure while uploading part 2")

    env.s3.meta.events.register("before-call.s3.UploadPart", fail_second_part)
    # When the second part fails
    with pytest.raises(ConnectionResetError):
        service.backup()
    # Then nothing is listed, no object exists and the multipart upload was aborted
    assert parts["n"] >= 2
    assert service.list_backups() == []
    assert env.s3.list_objects_v2(Bucket=BACKUPS).get("KeyCount") == 0
    assert pending_uploads(env) == []


def test_backup_failing_while_reading_vectors_aborts_the_upload(seeded: Env, monkeypatch: Any) -> None:
    service = seeded.service(shard_max_bytes=1024)
    original = S3VectorStore.iter_vectors

    def failing(self: S3VectorStore, **kwargs: Any) -> Iterator[Any]:
        for n, record in enumerate(original(self, **kwargs)):
            if n == 600:
                raise AWSError("injected ListVectors failure")
            yield record

    monkeypatch.setattr(S3VectorStore, "iter_vectors", failing)

    with pytest.raises(AWSError, match="injected"):
        service.backup()

    assert service.list_backups() == [] and pending_uploads(seeded) == []


def test_an_archive_whose_metadata_stamp_failed_is_not_listed(seeded: Env, monkeypatch: Any) -> None:
    service = seeded.service()

    def fail(*_: Any, **__: Any) -> None:
        raise AWSError("injected copy failure")

    monkeypatch.setattr(BackupService, "_mark_complete", fail)
    with pytest.raises(AWSError):
        service.backup()

    assert env_objects(seeded) and service.list_backups() == []


def env_objects(env: Env) -> list[str]:
    return [o["Key"] for o in env.s3.list_objects_v2(Bucket=BACKUPS).get("Contents", [])]


def test_backups_taken_in_the_same_instant_get_distinct_keys(seeded: Env) -> None:
    service = seeded.service()

    first, second = service.backup(), service.backup()

    assert first.key != second.key and second.key.endswith("-2.tar.gz")
    assert len(service.list_backups()) == 2


def test_backup_in_an_unversioned_bucket_is_listed_and_restorable(seeded: Env) -> None:
    seeded.s3.create_bucket(Bucket="docpipe-unversioned")
    settings = seeded.settings.with_overrides(backups_bucket="docpipe-unversioned")
    service = seeded.service(settings=settings)
    before = vector_state(seeded)

    key = service.backup().key
    report = service.restore("latest", target_index="from-unversioned")

    assert [b.key for b in service.list_backups()] == [key]
    assert vector_state(seeded, "from-unversioned") == before and report.vectors_restored == 1_234


def test_a_versioned_bucket_keeps_one_version_per_backup(seeded: Env) -> None:
    key = seeded.service().backup().key

    versions = seeded.s3.list_object_versions(Bucket=BACKUPS, Prefix=key).get("Versions", [])

    assert len(versions) == 1


# --------------------------------------------------------------------------------------- prune


def take_backups(env: Env, service: BackupService, count: int, *, hours_apart: float = 24) -> list[str]:
    keys = []
    for _ in range(count):
        keys.append(service.backup().key)
        env.clock.advance(hours=hours_apart)
    return keys


def test_prune_keeps_the_newest_retention_count_backups(seeded: Env) -> None:
    service = seeded.service()
    keys = take_backups(seeded, service, 5)

    report = service.prune()

    assert report.kept == keys[:1:-1] and sorted(report.deleted) == sorted(keys[:2])
    assert [b.key for b in service.list_backups()] == keys[:1:-1]


def test_prune_with_retention_one_keeps_only_the_newest(seeded: Env) -> None:
    settings = seeded.settings.with_overrides(backup_retention_count=1)
    service = seeded.service(settings=settings)
    keys = take_backups(seeded, service, 3)

    report = service.prune()

    assert report.kept == [keys[-1]] and len(report.deleted) == 2


def test_prune_also_keeps_backups_younger_than_the_retention_days(seeded: Env) -> None:
    settings = seeded.settings.with_overrides(backup_retention_count=1, backup_retention_days=2)
    service = seeded.service(settings=settings)
    keys = take_backups(seeded, service, 4)  # 24 h apart
    seeded.clock.advance(hours=-12)  # ages now 12 h, 36 h, 60 h and 84 h

    report = service.prune()

    assert report.kept == [keys[3], keys[2]] and sorted(report.deleted) == sorted(keys[:2])


def test_prune_keeps_the_newest_backup_however_old_it_is(seeded: Env) -> None:
    settings = seeded.settings.with_overrides(backup_retention_count=1, backup_retention_days=2)
    service = seeded.service(settings=settings)
    keys = take_backups(seeded, service, 3)
    seeded.clock.advance(days=30)  # every backup is now far older than two days

    report = service.prune()

    assert report.kept == [keys[-1]] and sorted(report.deleted) == sorted(keys[:2])


def test_prune_keeps_everything_within_the_count_regardless_of_age(seeded: Env) -> None:
    settings = seeded.settings.with_overrides(backup_retention_count=5, backup_retention_days=1)
    service = seeded.service(settings=settings)
    keys = take_backups(seeded, service, 3)
    seeded.clock.advance(days=30)

    report = service.prune()

    assert report.kept == keys[::-1] and report.deleted == []


def test_prune_with_equal_timestamps_is_deterministic(seeded: Env) -> None:
    settings = seeded.settings.with_overrides(backup_retention_count=2)
    service = seeded.service(settings=settings)
    keys = [service.backup().key for _ in range(4)]  # one instant: keys get -2, -3, -4 suffixes

    report = service.prune()

    ordered = sorted(keys, reverse=True)
    assert report.kept == ordered[:2] and sorted(report.deleted) == sorted(ordered[2:])


def test_prune_with_only_incomplete_uploads_lists_and_deletes_no_backup(seeded: Env) -> None:
    # Given a pending multipart upload (moto dates every upload 2010: stale) and a fresh unmarked object
    key = f"backups/{INDEX}/20250301T000000.000000Z.tar.gz"
    seeded.s3.create_multipart_upload(Bucket=BACKUPS, Key=key)
    fresh = key.replace("0000Z", "0001Z")
    seeded.s3.put_object(Bucket=BACKUPS, Key=fresh, Body=b"half")
    seeded.clock.now = dt.datetime.now(dt.UTC)
    service = seeded.service()

    report = service.prune()

    assert service.list_backups() == []
    assert (report.kept, report.deleted, report.incomplete_deleted) == ([], [], [])
    assert report.uploads_aborted == [key] and pending_uploads(seeded) == []
    assert env_objects(seeded) == [fresh]  # younger than a day: maybe a backup being stamped


def test_prune_removes_debris_of_failed_backups_older_than_a_day(seeded: Env) -> None:
    key = f"backups/{INDEX}/20250301T000000.000000Z.tar.gz"
    seeded.s3.create_multipart_upload(Bucket=BACKUPS, Key=key)
    seeded.s3.put_object(Bucket=BACKUPS, Key=key.replace("0000Z", "0001Z"), Body=b"half")
    service = seeded.service()
    kept = service.backup().key
    seeded.clock.now = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)

    report = service.prune()

    assert report.kept == [kept] and report.deleted == []
    assert report.incomplete_deleted == [key.replace("0000Z", "0001Z")]
    assert report.uploads_aborted == [key] and pending_uploads(seeded) == []


# ----------------------------------------------------------------------------------- segments


def test_large_index_is_read_in_parallel_segments_without_losing_or_duplicating_vectors(
    env: Env, monkeypatch: Any
) -> None:
    from benchmarks.bench_backup import paginated_moto_list_vectors

    monkeypatch.setattr(backup_service, "PROBE_PAGE_SIZE", 100)
    create_index(env)
    seed_vectors(env, 1_000)
    service = env.service(segment_count=4, shard_max_bytes=2048)
    before = vector_state(env)

    with paginated_moto_list_vectors():
        result = service.backup()
    service.restore("latest", target_index="segmented-copy")

    assert result.segments == 4 and result.vector_count == 1_000
    assert vector_state(env, "segmented-copy") == before


def test_endpoint_without_pagination_is_read_as_one_segment(seeded: Env) -> None:
    # moto 5.2 ignores maxResults and segmentCount: fanning out would duplicate every vector
    result = seeded.service(segment_count=8).backup()

    assert result.segments == 1 and result.vector_count == 1_234


@pytest.mark.parametrize("field", ["backup", "index", "target_index", "mode"])
def test_a_backup_request_field_that_is_not_a_string_is_rejected_naming_it(field: str) -> None:
    with pytest.raises(InvalidInputError, match=f"{field} must be a string, not int"):
        BackupRequest.from_event({"action": "restore", field: 5})


def test_a_backup_request_fills_the_defaults_of_an_action_alone() -> None:
    request = BackupRequest.from_event({"action": "restore"})

    assert (request.backup, request.mode, request.target_index, request.restore_registry) == (
        "latest", "replace", None, None,
    )  # fmt: skip

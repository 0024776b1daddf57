"""Untrusted archives: one hand-crafted malicious archive per rule, rejected with nothing written."""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import math
import struct
import tarfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docpipe.exceptions import ArchiveRejectedError
from tests.unit.test_backup import (
    BACKUPS,
    INDEX,
    Env,
    backup_environment,
    index_names,
    registry_state,
    seed_default,
    vector_state,
)

Member = tuple[tarfile.TarInfo, bytes]
Case = Callable[[list[Member], dict[str, Any]], bytes]
MiB = 1024 * 1024


@pytest.fixture
def original() -> Iterator[tuple[Env, str]]:
    """A seeded environment and the key of one genuine backup to tamper with."""
    with backup_environment() as env:
        seed_default(env)
        yield env, env.service().backup().key


def read_members(env: Env, key: str) -> tuple[list[Member], dict[str, Any]]:
    body = env.s3.get_object(Bucket=BACKUPS, Key=key)["Body"].read()
    members: list[Member] = []
    manifest: dict[str, Any] = {}
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        for info in tar.getmembers():
            data = tar.extractfile(info).read()  # type: ignore[union-attr]
            if info.name == "manifest.json":
                manifest = json.loads(data)
            else:
                members.append((info, data))
    return members, manifest


def regular(name: str, data: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, b""


def manifest_member(manifest: dict[str, Any]) -> Member:
    return regular("manifest.json", json.dumps(manifest).encode())


def tar_bytes(members: list[Member], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in members:
            info = copy.copy(info)
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return out.getvalue()


def pack(members: list[Member], manifest: dict[str, Any] | None, fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    entries = members + ([manifest_member(manifest)] if manifest is not None else [])
    return gzip.compress(tar_bytes(entries, fmt))


def fix(manifest: dict[str, Any], name: str, data: bytes) -> None:
    """Make the manifest agree with tampered data, so only the rule under test can fire."""
    for entry in manifest["members"]:
        if entry["name"] == name:
            entry["size"] = len(data)
            entry["sha256"] = hashlib.sha256(data).hexdigest()


def find(members: list[Member], name: str) -> int:
    return next(i for i, (info, _) in enumerate(members) if info.name == name)


def replaced(members: list[Member], name: str, data: bytes) -> list[Member]:
    out = list(members)
    out[find(members, name)] = regular(name, data)
    return out


def data_of(members: list[Member], name: str) -> bytes:
    return members[find(members, name)][1]


def before_registry(members: list[Member], extra: Member) -> list[Member]:
    out = list(members)
    out.insert(find(members, "registry/items-00000.jsonl"), extra)
    return out


REGISTRY = "registry/items-00000.jsonl"
KEYS = "vectors/shard-00000.jsonl"
F32 = "vectors/shard-00000.f32"
EXTRA = "registry/items-00007.jsonl"
GOOD_ITEM = b'{"doc_id":"ffffffffffffffffffffffffffffffff","state":"indexed"}\n'


def case_absolute(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(before_registry(m, regular("/etc/cron.d/evil", b"* * * * * root sh\n")), man)


def case_traversal(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(before_registry(m, regular("vectors/../../tmp/evil.jsonl", GOOD_ITEM)), man)


def case_symlink(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(before_registry(m, special(EXTRA, tarfile.SYMTYPE, "/etc/passwd")), man)


def case_hardlink(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(before_registry(m, special(EXTRA, tarfile.LNKTYPE, F32)), man)


def case_device(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(before_registry(m, special(EXTRA, tarfile.CHRTYPE)), man)


def case_fifo(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(before_registry(m, special(EXTRA, tarfile.FIFOTYPE)), man)


def case_unlisted(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(before_registry(m, regular(EXTRA, GOOD_ITEM)), man)


def case_larger_than_manifest(m: list[Member], man: dict[str, Any]) -> bytes:
    data = data_of(m, REGISTRY) + GOOD_ITEM
    return pack(replaced(m, REGISTRY, data), man)


def case_bomb(m: list[Member], man: dict[str, Any]) -> bytes:
    # 40 MiB of valid, highly repetitive lines: only the ratio rule can stop it
    return pack(before_registry(m, regular(EXTRA, GOOD_ITEM * (40 * MiB // len(GOOD_ITEM)))), man)


def case_checksum(m: list[Member], man: dict[str, Any]) -> bytes:
    data = bytearray(data_of(m, F32))
    data[0] ^= 1  # lowest mantissa bit: still a finite float, same size
    return pack(replaced(m, F32, bytes(data)), man)


def case_format_version(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(m, {**man, "format_version": 2})


def case_dimension(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(m, {**man, "index": {**man["index"], "dimension": 16}})


def case_index_name(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(m, {**man, "index": {**man["index"], "name": "../../other-bucket/index/x"}})


def case_nan(m: list[Member], man: dict[str, Any]) -> bytes:
    data = struct.pack("<f", math.nan) + data_of(m, F32)[4:]
    fix(man, F32, data)
    return pack(replaced(m, F32, data), man)


def case_bad_json(m: list[Member], man: dict[str, Any]) -> bytes:
    lines = data_of(m, KEYS).split(b"\n")
    data = b"\n".join([b'{"key": "a#0", "metadata": ', *lines[1:]])
    fix(man, KEYS, data)
    return pack(replaced(m, KEYS, data), man)


def case_no_manifest(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(m, None)


def case_manifest_not_last(m: list[Member], man: dict[str, Any]) -> bytes:
    return gzip.compress(tar_bytes(before_registry(m, manifest_member(man))))


def case_duplicate(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack([*m, m[find(m, REGISTRY)]], man)


def case_missing(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack([x for x in m if x[0].name != REGISTRY], man)


def case_layout(m: list[Member], man: dict[str, Any]) -> bytes:
    out = list(m)
    i = find(m, KEYS)
    out[i], out[i + 1] = out[i + 1], out[i]
    return pack(out, man)


def case_pax(m: list[Member], man: dict[str, Any]) -> bytes:
    out = list(m)
    info, data = out[find(m, REGISTRY)]
    info = copy.copy(info)
    info.pax_headers = {"comment": "x" * 100}
    out[find(m, REGISTRY)] = (info, data)
    return pack(out, man, tarfile.PAX_FORMAT)


def case_unexpected_name(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(before_registry(m, regular("notes.txt", b"hello")), man)


def case_not_gzip(m: list[Member], man: dict[str, Any]) -> bytes:
    return b"this is not a gzip stream " * 100


def case_truncated(m: list[Member], man: dict[str, Any]) -> bytes:
    raw = tar_bytes([*m, manifest_member(man)])
    return gzip.compress(raw[: len(raw) // 2])


def case_total_count(m: list[Member], man: dict[str, Any]) -> bytes:
    return pack(m, {**man, "counts": {**man["counts"], "vectors": man["counts"]["vectors"] + 1}})


def case_member_count(m: list[Member], man: dict[str, Any]) -> bytes:
    man["members"][find(m, REGISTRY)]["count"] += 1
    return pack(m, man)


def case_manifest_not_json(m: list[Member], man: dict[str, Any]) -> bytes:
    return gzip.compress(tar_bytes([*m, regular("manifest.json", b"{nope")]))


CASES: list[Any] = [
    pytest.param(case_absolute, "absolute_path", "/etc/cron.d/evil", id="absolute-path"),
    pytest.param(case_traversal, "parent_traversal", "vectors/../../tmp/evil.jsonl", id="dot-dot"),
    pytest.param(case_symlink, "symlink", EXTRA, id="symlink"),
    pytest.param(case_hardlink, "hardlink", EXTRA, id="hardlink"),
    pytest.param(case_device, "device", EXTRA, id="device"),
    pytest.param(case_fifo, "fifo", EXTRA, id="fifo"),
    pytest.param(case_unlisted, "unlisted_member", EXTRA, id="not-in-manifest"),
    pytest.param(case_larger_than_manifest, "size_mismatch", REGISTRY, id="larger-than-manifest"),
    pytest.param(case_bomb, "compression_ratio", EXTRA, id="compression-ratio"),
    pytest.param(case_checksum, "checksum_mismatch", F32, id="checksum"),
    pytest.param(case_format_version, "unknown_format_version", "manifest.json", id="format-version"),
    pytest.param(case_dimension, "dimension_mismatch", F32, id="dimension"),
    pytest.param(case_index_name, "invalid_manifest", "manifest.json", id="index-name"),
    pytest.param(case_nan, "non_finite_vector", F32, id="nan"),
    pytest.param(case_bad_json, "invalid_record", KEYS, id="bad-json-line"),
    pytest.param(case_no_manifest, "missing_manifest", "manifest.json", id="no-manifest"),
    pytest.param(case_manifest_not_last, "manifest_not_last", REGISTRY, id="manifest-not-last"),
    pytest.param(case_duplicate, "duplicate_member", REGISTRY, id="duplicate"),
    pytest.param(case_missing, "missing_member", REGISTRY, id="missing-member"),
    pytest.param(case_layout, "shard_layout", F32, id="shard-order"),
    pytest.param(case_pax, "extended_header", None, id="pax-header"),
    pytest.param(case_unexpected_name, "unexpected_member", "notes.txt", id="unexpected-name"),
    pytest.param(case_not_gzip, "corrupt_archive", None, id="not-gzip"),
    pytest.param(case_truncated, "truncated_archive", None, id="truncated"),
    pytest.param(case_total_count, "count_mismatch", "manifest.json", id="total-count"),
    pytest.param(case_member_count, "count_mismatch", REGISTRY, id="member-count"),
    pytest.param(case_manifest_not_json, "invalid_manifest", "manifest.json", id="manifest-not-json"),
]


def upload_crafted(env: Env, genuine_key: str, body: bytes) -> str:
    """Store the archive under a backup key with the genuine backup's complete metadata."""
    metadata = env.s3.head_object(Bucket=BACKUPS, Key=genuine_key)["Metadata"]
    key = f"backups/{INDEX}/20990101T000000.000000Z.tar.gz"
    env.s3.put_object(Bucket=BACKUPS, Key=key, Body=body, Metadata=metadata)
    return key


@pytest.mark.parametrize(("craft", "rule", "member"), CASES)
def test_malicious_archive_is_rejected_before_anything_is_written(
    original: tuple[Env, str], craft: Case, rule: str, member: str | None
) -> None:
    # Given a tampered archive listed as the newest complete backup
    env, genuine = original
    members, manifest = read_members(env, genuine)
    key = upload_crafted(env, genuine, craft(members, manifest))
    vectors, items, indexes = vector_state(env), registry_state(env), index_names(env)
    # When it is restored in replace mode (which would clear the index first)
    with pytest.raises(ArchiveRejectedError) as caught:
        env.service().restore("latest", mode="replace")
    # Then the error names the rule and the member, and nothing was touched
    assert caught.value.rule == rule
    if member is not None:
        assert caught.value.member == member
    assert rule in str(caught.value)
    assert vector_state(env) == vectors
    assert registry_state(env) == items
    assert index_names(env) == indexes
    assert env.service().verify(key).rule == rule


def test_archive_over_the_restore_size_cap_is_rejected(original: tuple[Env, str]) -> None:
    env, key = original
    settings = env.settings.with_overrides(backup_max_restore_bytes=20_000)
    vectors, items = vector_state(env), registry_state(env)

    with pytest.raises(ArchiveRejectedError) as caught:
        env.service(settings=settings).restore(
            key, target_index="never-created", mode="replace", restore_registry=True
        )

    assert caught.value.rule == "total_size"
    assert caught.value.member is not None and caught.value.member.startswith("vectors/")
    assert "never-created" not in index_names(env) and vector_state(env) == vectors
    assert registry_state(env) == items


def test_manifest_naming_an_invalid_index_is_rejected_with_the_name_rule(original: tuple[Env, str]) -> None:
    env, genuine = original
    members, manifest = read_members(env, genuine)
    key = upload_crafted(env, genuine, case_index_name(members, manifest))

    report = env.service().verify(key, compare_live=True)

    assert not report.ok and report.rule == "invalid_manifest" and not report.live_compared
    assert report.problem is not None and "index name '../../other-bucket/index/x'" in report.problem


def test_a_genuine_archive_passes_every_rule(original: tuple[Env, str]) -> None:
    env, key = original
    members, manifest = read_members(env, key)
    rebuilt = upload_crafted(env, key, pack(members, manifest))

    report = env.service().restore(rebuilt, target_index="rebuilt", restore_registry=True)

    assert report.vectors_restored == 1_234 and report.documents_restored == 40

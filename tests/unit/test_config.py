"""Settings: read once from the environment, validated with errors that name the variable."""

from __future__ import annotations

import dataclasses
import re

import pytest

from docpipe import aws, config
from docpipe.config import ENV_VARS, Settings
from docpipe.exceptions import ConfigError


def test_defaults_apply_when_no_variable_is_set() -> None:
    settings = Settings.from_env({})

    assert settings == Settings()
    assert (settings.embedding_provider, settings.embedding_dimension) == ("bedrock", 1024)
    assert settings.max_document_bytes == 50 * 1024 * 1024


def test_every_variable_is_read_and_coerced_to_its_type() -> None:
    env = {
        "STAGE": "prod-eu",
        "DOCUMENTS_BUCKET": "docs-bucket",
        "EMBEDDING_PROVIDER": "offline",
        "EMBEDDING_DIMENSION": "256",
        "EMBEDDING_NORMALIZE": "no",
        "CHUNK_SIZE": "500",
        "CHUNK_OVERLAP": "50",
        "MAX_DOCUMENT_BYTES": "1024",
        "SECRETS_CACHE_TTL_SECONDS": "0",
    }

    settings = Settings.from_env(env)

    assert settings.stage == "prod-eu"
    assert settings.documents_bucket == "docs-bucket"
    assert (settings.embedding_provider, settings.embedding_dimension) == ("offline", 256)
    assert settings.embedding_normalize is False
    assert (settings.chunk_size, settings.chunk_overlap, settings.max_document_bytes) == (500, 50, 1024)
    assert settings.secrets_cache_ttl_seconds == 0


def test_the_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUNK_SIZE", "2000")

    assert Settings.from_env().chunk_size == 2000


def test_an_empty_variable_means_the_default() -> None:
    assert Settings.from_env({"CHUNK_SIZE": "", "PDF_ENGINE": ""}) == Settings()


def test_an_explicit_override_wins_over_the_env_var() -> None:
    settings = Settings.from_env({"CHUNK_SIZE": "2000", "DOCUMENTS_BUCKET": "from-env"}, chunk_size=300)

    assert settings.chunk_size == 300
    assert settings.documents_bucket == "from-env"


def test_an_invalid_override_is_still_validated() -> None:
    with pytest.raises(ConfigError, match="CHUNK_SIZE=50 is out of range; allowed: 100..8000"):
        Settings.from_env({}, chunk_size=50)


def test_a_missing_required_variable_names_the_variable() -> None:
    settings = Settings.from_env({"DOCUMENTS_BUCKET": "docs"})

    with pytest.raises(ConfigError, match="^DOCUMENTS_TABLE is required but not set$"):
        settings.require("documents_bucket", "documents_table")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"EMBEDDING_PROVIDER": "openai"},
            "EMBEDDING_PROVIDER='openai' is invalid; allowed: bedrock, offline",
        ),
        ({"PDF_ENGINE": "mupdf"}, "PDF_ENGINE='mupdf' is invalid; allowed: pypdfium2, pypdf"),
        ({"STAGE": "Prod"}, "STAGE='Prod' is invalid; allowed: 1-32 of a-z, 0-9 and '-'"),
        ({"CHUNK_SIZE": "big"}, "CHUNK_SIZE='big' is not a whole number; allowed: 100..8000"),
        ({"CHUNK_OVERLAP": "1.5"}, "CHUNK_OVERLAP='1.5' is not a whole number; allowed: 0..CHUNK_SIZE - 1"),
        ({"MAX_DOCUMENT_BYTES": "50MB"}, "MAX_DOCUMENT_BYTES='50MB' is not a whole number; allowed: >= 1"),
        (
            {"EMBEDDING_DIMENSION": "big"},
            "EMBEDDING_DIMENSION='big' is not a whole number; "
            "allowed: 64, 128, 256, 512, 1024 (by EMBEDDING_PROVIDER)",
        ),
        ({"CHUNK_SIZE": "99"}, "CHUNK_SIZE=99 is out of range; allowed: 100..8000"),
        ({"CHUNK_OVERLAP": "1000"}, "CHUNK_OVERLAP=1000 is out of range; allowed: 0..999"),
        ({"MAX_DOCUMENT_BYTES": "0"}, "MAX_DOCUMENT_BYTES=0 is out of range; allowed: >= 1"),
        ({"EMBEDDING_CONCURRENCY": "33"}, "EMBEDDING_CONCURRENCY=33 is out of range; allowed: 1..32"),
        ({"BACKUP_SEGMENT_COUNT": "17"}, "BACKUP_SEGMENT_COUNT=17 is out of range; allowed: 1..16"),
        ({"SECRETS_CACHE_TTL_SECONDS": "-1"}, "SECRETS_CACHE_TTL_SECONDS=-1 is out of range; allowed: >= 0"),
        ({"BACKUP_RETENTION_COUNT": "0"}, "BACKUP_RETENTION_COUNT=0 is out of range; allowed: >= 1"),
        ({"EMBEDDING_NORMALIZE": "maybe"}, "EMBEDDING_NORMALIZE='maybe' is not a boolean; allowed: 1, true"),
    ],
)
def test_an_invalid_variable_error_names_the_variable_the_value_and_what_is_allowed(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("provider", "dimension", "allowed"),
    [("offline", "1024", "64, 128, 256"), ("bedrock", "128", "256, 512, 1024")],
)
def test_the_dimension_must_fit_the_provider(provider: str, dimension: str, allowed: str) -> None:
    env = {"EMBEDDING_PROVIDER": provider, "EMBEDDING_DIMENSION": dimension}

    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)

    assert str(caught.value) == (
        f"EMBEDDING_DIMENSION={int(dimension)!r} is invalid for provider {provider!r}; allowed: {allowed}"
    )


def test_settings_are_frozen() -> None:
    settings = Settings()

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.chunk_size = 10  # type: ignore[misc]


def test_with_overrides_returns_a_validated_copy() -> None:
    settings = Settings()

    assert settings.with_overrides(chunk_size=2000).chunk_size == 2000
    assert settings.chunk_size == 1000
    with pytest.raises(ConfigError, match="EMBEDDING_DIMENSION"):
        settings.with_overrides(embedding_provider="offline")


def test_every_field_has_exactly_one_declared_env_var() -> None:
    field_names = [f.name for f in dataclasses.fields(Settings)]

    assert len(ENV_VARS) == len(field_names) == len(set(ENV_VARS))
    assert tuple(name.upper() for name in field_names) == ENV_VARS
    declared = {value for name, value in vars(config).items() if name.isupper() and isinstance(value, str)}
    assert set(ENV_VARS) <= declared


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Settings) if f.type in (int, "int")])
def test_every_whole_number_variable_says_what_is_allowed_when_it_is_not_a_number(name: str) -> None:
    variable = config._ENV_BY_FIELD[name]

    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: "lots"})

    assert re.fullmatch(rf"{variable}='lots' is not a whole number; allowed: \S.*", str(caught.value))


def test_embedding_concurrency_cannot_outgrow_the_clients_connection_pool() -> None:
    at_the_pool_size = Settings.from_env({"EMBEDDING_CONCURRENCY": str(aws.MAX_POOL_CONNECTIONS)})

    assert at_the_pool_size.embedding_concurrency == aws.MAX_POOL_CONNECTIONS
    with pytest.raises(
        ConfigError, match=f"^EMBEDDING_CONCURRENCY={aws.MAX_POOL_CONNECTIONS + 1} is out of range"
    ):
        Settings.from_env({"EMBEDDING_CONCURRENCY": str(aws.MAX_POOL_CONNECTIONS + 1)})


def test_backup_segment_count_defaults_to_two_and_is_read_from_its_variable() -> None:
    assert Settings.from_env({}).backup_segment_count == 2
    assert Settings.from_env({"BACKUP_SEGMENT_COUNT": "16"}).backup_segment_count == 16

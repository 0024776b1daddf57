"""``docpipe search --on-behalf-of USER --group P``: the request's on_behalf_of, checked like the API's."""

from __future__ import annotations

import argparse

import pytest

from docpipe.exceptions import ValidationError
from docpipe.search import SearchRequest
from docpipe_cli.commands.search import on_behalf_of, register


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    return parser.parse_args(["search", "question", *argv])


def test_the_user_and_repeated_groups_become_on_behalf_of() -> None:
    args = parse("--on-behalf-of", "ana@example.com", "--group", "group:finance", "--group", "tenant:acme")

    value = on_behalf_of(args)

    assert value == {"user": "ana@example.com", "groups": ["group:finance", "tenant:acme"]}
    parsed = SearchRequest("q", on_behalf_of=value).on_behalf_of  # type: ignore[arg-type]
    assert parsed is not None
    assert parsed.principals == ("group:finance", "tenant:acme", "user:ana@example.com")


def test_without_the_option_the_search_names_no_one() -> None:
    assert on_behalf_of(parse()) is None


def test_a_group_without_a_user_is_refused_naming_on_behalf_of() -> None:
    with pytest.raises(ValidationError) as caught:
        on_behalf_of(parse("--group", "group:finance"))
    assert caught.value.field == "on_behalf_of"

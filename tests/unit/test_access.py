"""Access control's parts: one spelling per principal, the operator's documents, callers, the condition."""

from __future__ import annotations

import json
from typing import Any

import pytest

from docpipe.access import (
    EVERYONE,
    MAX_ACCESS_LIST_BYTES,
    MAX_CALLER_PRINCIPALS,
    UNLISTED,
    Caller,
    CallerMap,
    OnBehalfOf,
    PrefixRules,
    access_condition,
    caller_arn,
    compose_filter,
    document_access,
    normalise_principal,
    normalise_principals,
    query_principals,
    readable,
    reject_access_key,
    resolve_principals,
)
from docpipe.exceptions import (
    AccessListTooLargeError,
    ConfigError,
    ForbiddenError,
    InvalidInputError,
    ValidationError,
)

ROLE = "arn:aws:iam::123456789012:role/hr-portal"


# -- principals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "group:hr",
        "Group:HR ",
        "  GROUP:hr\t",
        "group : hr",
        "ｇｒｏｕｐ：ｈｒ",  # full-width letters and colon (NFKC)
        "group:\u0068r",
    ],
)
def test_principals_that_differ_only_in_case_width_or_space_are_one(spelling: str) -> None:
    assert normalise_principal(spelling) == "group:hr"


def test_composed_and_decomposed_accents_are_one_principal() -> None:
    composed, decomposed = "user:jos\u00e9@example.com", "user:jose\u0301@example.com"

    assert normalise_principal(composed) == normalise_principal(decomposed) == composed


def test_case_folding_meets_where_lower_does_not() -> None:
    assert normalise_principal("user:STRASSE") == normalise_principal("user:straße")


def test_inner_runs_of_white_space_become_one_space() -> None:
    assert normalise_principal("group:Human   Resources") == "group:human resources"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("hr", "kind:name"),
        (":hr", "kind:name"),
        ("group:", "kind:name"),
        ("9group:hr", "kind:name"),
        ("", "empty"),
        ("   ", "empty"),
        ("group:h\u200br", "control or format"),
        ("group:a\x00b", "control or format"),
        (7, "string"),
        ("group:" + "x" * 300, "at most"),
        (UNLISTED, "kind:name"),  # the marker of "no list" is not a principal anyone writes
    ],
)
def test_what_is_not_a_principal_is_refused_naming_the_field(value: Any, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why) as caught:
        normalise_principal(value, field="access[2]")
    assert str(caught.value).startswith("access[2]")


def test_everyone_is_a_principal_of_its_own() -> None:
    assert normalise_principal(" Everyone ") == EVERYONE


def test_a_list_is_deduplicated_and_sorted_after_normalising() -> None:
    assert normalise_principals(["group:HR", "user:ana@x", "group:hr "], field="access") == (
        "group:hr",
        "user:ana@x",
    )


def test_an_empty_list_is_refused_unless_allowed() -> None:
    with pytest.raises(InvalidInputError, match="at least one"):
        normalise_principals([], field="access")
    assert normalise_principals([], field="p", allow_empty=True) == ()


def test_a_list_entry_at_fault_is_named_by_its_index() -> None:
    with pytest.raises(InvalidInputError, match=r"^access\[1\]"):
        normalise_principals(["group:hr", "hr"], field="access")


# -- prefix rules and a document's list -----------------------------------------------------------


def rules(**by_prefix: list[str]) -> PrefixRules:
    return PrefixRules.parse(json.dumps({"rules": {k.replace("_", "/"): v for k, v in by_prefix.items()}}))


def test_the_longest_matching_prefix_applies() -> None:
    parsed = PrefixRules.parse(
        json.dumps({"rules": {"hr/": ["group:hr"], "hr/exec/": ["group:exec"], "": ["group:staff"]}})
    )

    assert parsed.for_key("hr/exec/pay.pdf") == ("group:exec",)
    assert parsed.for_key("hr/handbook.pdf") == ("group:hr",)
    assert parsed.for_key("other.pdf") == ("group:staff",)


def test_a_document_gets_the_rule_united_with_its_sidecar() -> None:
    parsed = PrefixRules.parse(json.dumps({"rules": {"customers/acme/": ["tenant:acme"]}}))

    assert document_access("customers/acme/q3.pdf", ("user:ana@x",), parsed) == ("tenant:acme", "user:ana@x")
    assert document_access("customers/acme/q3.pdf", None, parsed) == ("tenant:acme",)
    assert document_access("other/q3.pdf", ("user:ana@x",), parsed) == ("user:ana@x",)


def test_a_document_without_any_list_is_stored_as_unlisted() -> None:
    assert document_access("a.pdf", None, PrefixRules()) == (UNLISTED,)


def test_an_access_list_over_the_budget_is_too_large() -> None:
    many = tuple(f"user:person-{i:04d}@example.com" for i in range(60))

    with pytest.raises(AccessListTooLargeError, match=str(MAX_ACCESS_LIST_BYTES)) as caught:
        document_access("a.pdf", many, PrefixRules())
    assert caught.value.reason == "access_list_too_large"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ('{"rules": {"hr/": ["hr"]}}', "rules['hr/'][0]"),
        ('{"rules": {"hr/": []}}', "rules['hr/']"),
        ('{"rules": {"hr/": "group:hr"}}', "rules['hr/']"),
        ('{"rules": ["hr/"]}', "rules must be an object"),
        ('{"rule": {}}', "unknown field 'rule'"),
        ("[1]", "must be a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_bad_rules_document_is_a_config_error_naming_the_field(document: str, field: str) -> None:
    with pytest.raises(ConfigError, match="SSM parameter /x") as caught:
        PrefixRules.parse(document, source="SSM parameter /x")
    assert field in str(caught.value)


def test_no_rules_document_means_no_rules() -> None:
    assert PrefixRules.parse(None).for_key("a") is None
    assert PrefixRules.parse("  ").for_key("a") is None


# -- callers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sts::123456789012:assumed-role/hr-portal/session-42",
        "arn:aws:iam::123456789012:role/service-role/hr-portal",
        "ARN:AWS:IAM::123456789012:ROLE/HR-PORTAL",
        " arn:aws:iam::123456789012:role/hr-portal ",
    ],
)
def test_an_assumed_role_and_the_role_with_a_path_are_one_caller(arn: str) -> None:
    assert caller_arn(arn) == ROLE


def test_a_user_arn_keeps_its_path_and_other_partitions_stay_apart() -> None:
    assert caller_arn("arn:aws:iam::123456789012:user/ops/ana") == "arn:aws:iam::123456789012:user/ops/ana"
    assert (
        caller_arn("arn:aws-cn:sts::123456789012:assumed-role/r/s") == "arn:aws-cn:iam::123456789012:role/r"
    )


def mapping(**entries: Any) -> CallerMap:
    return CallerMap.parse(json.dumps({"callers": entries}))


def test_the_mapping_finds_a_caller_by_any_spelling_of_its_role() -> None:
    callers = CallerMap.parse(json.dumps({"callers": {ROLE: {"principals": ["Group:HR"], "delegate": True}}}))

    found = callers.get("arn:aws:sts::123456789012:assumed-role/hr-portal/s")
    assert found is not None and found.principals == ("group:hr",) and found.delegate


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"principals": ["group:hr"], "delegate": "yes"}, "delegate must be true or false"),
        ({"principals": ["hr"]}, "principals[0]"),
        ({"principals": []}, "at least one"),
        ({"principals": ["everyone"]}, "every caller holds already"),
        ({"principals": ["group:hr"], "admin": True}, "admin is unknown"),
        (["group:hr"], "must be an object"),
        ({"principals": [f"group:g{i}" for i in range(MAX_CALLER_PRINCIPALS + 1)]}, "lists over"),
    ],
)
def test_a_bad_mapping_is_a_config_error_naming_the_caller_and_field(entry: Any, field: str) -> None:
    with pytest.raises(ConfigError, match="caller mapping") as caught:
        CallerMap.parse(json.dumps({"callers": {ROLE: entry}}))
    assert field in str(caught.value)


def test_a_delegate_may_be_mapped_without_principals_of_its_own() -> None:
    callers = CallerMap.parse(json.dumps({"callers": {ROLE: {"principals": [], "delegate": True}}}))

    assert callers.get(ROLE) is not None


# -- on_behalf_of and resolution --------------------------------------------------------------------


def test_on_behalf_of_names_a_user_and_groups() -> None:
    parsed = OnBehalfOf.parse({"user": "Ana@Example.com ", "groups": ["Group:Finance", "tenant:acme"]})

    assert parsed.principals == ("group:finance", "tenant:acme", "user:ana@example.com")
    assert OnBehalfOf.parse({"user": "user:ana@example.com"}).user == "user:ana@example.com"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("ana", "on_behalf_of"),
        ({}, "on_behalf_of.user"),
        ({"user": "  "}, "on_behalf_of.user"),
        ({"user": "ana", "groups": "group:hr"}, "on_behalf_of.groups"),
        ({"user": "ana", "groups": ["finance"]}, "on_behalf_of.groups[0]"),
        (
            {"user": "ana", "groups": [f"group:g{i}" for i in range(MAX_CALLER_PRINCIPALS)]},
            "on_behalf_of.groups",
        ),
        ({"user": "ana", "roles": []}, "on_behalf_of.roles"),
    ],
)
def test_a_bad_on_behalf_of_is_a_validation_error_naming_the_field(value: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OnBehalfOf.parse(value)
    assert caught.value.field == field


def test_a_mapped_caller_searches_with_its_principals() -> None:
    callers = mapping(**{ROLE: {"principals": ["group:hr"]}})

    grant = resolve_principals(Caller("arn:aws:sts::123456789012:assumed-role/hr-portal/s"), None, callers)

    assert grant.principals == ("group:hr",) and grant.caller == ROLE


def test_an_unmapped_caller_is_forbidden() -> None:
    with pytest.raises(ForbiddenError) as caught:
        resolve_principals(Caller("arn:aws:iam::123456789012:user/mallory"), None, mapping())
    assert caught.value.reason == "unmapped"


def test_a_request_without_identity_at_the_url_is_forbidden_not_direct() -> None:
    caller = Caller.from_request_context({"http": {"method": "POST"}})

    with pytest.raises(ForbiddenError):
        resolve_principals(caller, OnBehalfOf.parse({"user": "ana"}), mapping())


def test_on_behalf_of_from_a_non_delegate_is_forbidden() -> None:
    callers = mapping(**{ROLE: {"principals": ["group:hr"]}})

    with pytest.raises(ForbiddenError) as caught:
        resolve_principals(Caller(ROLE), OnBehalfOf.parse({"user": "ana"}), callers)
    assert caught.value.reason == "not_delegate"


def test_a_delegate_searches_with_only_its_users_principals() -> None:
    callers = mapping(**{ROLE: {"principals": ["group:hr"], "delegate": True}})

    grant = resolve_principals(
        Caller(ROLE), OnBehalfOf.parse({"user": "ana", "groups": ["group:x"]}), callers
    )

    assert grant.principals == ("group:x", "user:ana") and grant.on_behalf_of == "user:ana"


def test_a_direct_caller_must_say_on_whose_behalf() -> None:
    with pytest.raises(ValidationError) as caught:
        resolve_principals(Caller(), None, mapping())
    assert caught.value.field == "on_behalf_of"
    assert resolve_principals(Caller(), OnBehalfOf.parse({"user": "ana"}), mapping()).principals == (
        "user:ana",
    )


# -- the condition ----------------------------------------------------------------------------------


def test_unlisted_documents_are_held_only_when_the_default_is_everyone() -> None:
    assert query_principals(["group:hr"], "nobody") == ("everyone", "group:hr")
    assert query_principals(["group:hr"], "everyone") == ("everyone", "group:hr", "unlisted")


def test_the_condition_is_anded_outside_the_callers_filter() -> None:
    condition = access_condition(["group:hr"])
    caller = {"$or": [{"page": 1}, {"key": {"$ne": "x"}}]}

    assert compose_filter(condition, caller) == {"$and": [condition, caller]}
    assert compose_filter(condition, None) == condition


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"access": "group:hr"}, "filter.access"),
        ({"access": {"$exists": False}}, "filter.access"),
        ({"$or": [{"page": 1}, {"access": {"$ne": "x"}}]}, "filter.$or[1].access"),
        ({"$and": [{"$or": [{"access": {"$nin": ["y"]}}]}]}, "filter.$and[0].$or[0].access"),
    ],
)
def test_a_filter_naming_the_access_key_is_refused_naming_it(spec: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        reject_access_key(spec)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"access": ["group:hr", "user:x"]}, True),
        ({"access": ["everyone"]}, True),
        ({"access": ["group:finance"]}, False),
        ({"access": []}, False),
        ({}, False),  # a chunk without a list matches no one
        ({"access": "group:hr"}, True),  # a scalar matches as S3 Vectors' $in does
        ({"access": ["Group:HR"]}, False),  # stored lists are normalised at ingest; no folding here
    ],
)
def test_readable_shares_a_principal_as_the_stores_in_does(metadata: dict[str, Any], expected: bool) -> None:
    assert readable(metadata, ["group:hr", "everyone"]) is expected

"""`docpipe backup verify` fails the command when the verification found a problem."""

from __future__ import annotations

from docpipe_cli.commands.backup import verify_exit_code

GOOD = {"action": "verify", "key": "b/1.tar", "ok": True, "live_compared": False, "live_matches": False}


def test_a_sound_archive_verifies_with_exit_code_zero() -> None:
    assert verify_exit_code(GOOD) == 0


def test_a_broken_archive_fails_the_command(capsys) -> None:
    payload = {**GOOD, "ok": False, "problem": "checksum mismatch", "member": "vectors-0.f32"}

    assert verify_exit_code(payload) == 1
    assert "checksum mismatch (vectors-0.f32)" in capsys.readouterr().err


def test_a_live_index_that_differs_from_the_archive_fails_the_command(capsys) -> None:
    payload = {**GOOD, "live_compared": True, "live_matches": False, "live_missing": 3}

    assert verify_exit_code(payload) == 1
    assert "3 missing" in capsys.readouterr().err


def test_a_live_index_that_matches_the_archive_verifies() -> None:
    assert verify_exit_code({**GOOD, "live_compared": True, "live_matches": True}) == 0


def test_the_backup_option_is_not_mistaken_for_an_abbreviation_of_another() -> None:
    from docpipe_cli.cli import build_parser

    args = build_parser().parse_args(["backup", "verify", "--backup", "latest", "--compare-live"])

    assert (args.action, args.backup, args.compare_live) == ("verify", "latest", True)

"""The ``docpipe`` command: the local stack, search, status, backfill, reconcile and backups.

AWS, LocalStack and the local emulator are reached the way the AWS CLI reaches them
(``--endpoint-url``, ``--profile``, ``--region``). Resource names come, in this order, from options,
the environment variables the functions read, the CloudFormation stack's outputs (``--stack-name``)
or the running local stack's state file (``.aws-sam/local-stack.json``). Errors are one line;
``--debug`` shows the traceback. The subcommands live in ``docpipe_cli.commands``, one module each.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from docpipe.exceptions import DocpipeError
from docpipe_cli.commands import COMMANDS
from docpipe_cli.console import err
from docpipe_cli.target import OUTPUTS

COMMON_OPTIONS = ("endpoint_url", "profile", "region", "stack_name", "debug")


def common_options() -> argparse.ArgumentParser:
    """The options every command takes: where to talk (as in the AWS CLI) and the names there."""
    # SUPPRESS: an option given before the subcommand must not be reset by the subparser's default.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    aws = common.add_argument_group("where (as in the AWS CLI)")
    aws.add_argument("--endpoint-url", help="AWS-compatible endpoint (LocalStack, moto server)")
    aws.add_argument("--profile", help="AWS named profile")
    aws.add_argument("--region", help="AWS region")
    aws.add_argument("--stack-name", help="read resource names from this CloudFormation stack's outputs")
    aws.add_argument("--debug", action="store_true", help="show tracebacks")
    names = common.add_argument_group("names (default: env vars, stack outputs, or the local stack)")
    names.add_argument("--documents-bucket", dest="documents_bucket")
    names.add_argument("--documents-table", dest="documents_table")
    names.add_argument("--vector-bucket", dest="vector_bucket")
    names.add_argument("--vector-index", dest="vector_index")
    names.add_argument("--backups-bucket", dest="backups_bucket")
    names.add_argument("--queue-url", dest="queue_url")
    names.add_argument("--backup-function", dest="backup_function")
    names.add_argument("--reconcile-function", dest="reconcile_function")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    # No abbreviations: the top-level parser would read `backup --backup` as an ambiguous
    # `--backups-bucket` / `--backup-function` before the subcommand parser sees it.
    parser = argparse.ArgumentParser(
        prog="docpipe", description=__doc__.splitlines()[0], parents=[common], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in (*COMMON_OPTIONS, *OUTPUTS):
        if not hasattr(args, name):
            setattr(args, name, False if name == "debug" else None)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        from botocore.exceptions import BotoCoreError, ClientError

        known = (DocpipeError, ClientError, BotoCoreError, OSError, ValueError)
        kind = "error" if isinstance(exc, known) else f"unexpected {type(exc).__name__}"
        err(f"{kind}: {exc} (run with --debug for the traceback)")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

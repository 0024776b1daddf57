"""The ``docpipe`` command: the local stack, search, status, backfill, reconcile and backups.

AWS, LocalStack and the local emulator are reached the way the AWS CLI reaches them
(``--endpoint-url``, ``--profile``, ``--region``). Resource names come, in this order, from options,
the environment variables the functions read, the CloudFormation stack's outputs (``--stack-name``)
or the running local stack's state file (``.aws-sam/local-stack.json``). Errors are one line;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from docpipe.config import RERANK_MODES
from docpipe.exceptions import ConfigError, DocpipeError, InvalidInputError, ValidationError
from docpipe_cli.queries import documents, format_documents, search
from docpipe_cli.target import OUTPUTS, Target, answers, resolve_target, root_or_cwd

COMMON_OPTIONS = ("endpoint_url", "profile", "region", "stack_name", "debug")


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


# -- commands ----------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from docpipe_cli.local.demo import run_demo

    return run_demo(
        root_or_cwd(),
        workers=args.workers,
        corpus=Path(args.corpus) if args.corpus else None,
        pdf_password=not args.no_pdf_password,
    )


def cmd_local_up(args: argparse.Namespace) -> int:
    from docpipe_cli.local.session import LocalSession

    root = root_or_cwd()
    stop = threading.Event()
    session = LocalSession(
        root,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        port=args.port,
        workers=args.workers,
        serve_invoke=True,
        invoke_port=args.invoke_port,
        log=lambda line: _err(f"{time.strftime('%H:%M:%S')} {line}"),
        function_log=_err,
    )
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        session.start()
        assert session.local is not None
        bucket = session.local.outputs.get("DocumentsBucketName", "")
        endpoint = session.endpoint
        region = session.local.region
        _out("")
        _out(f"docpipe local stack is up: endpoint {endpoint}  (Ctrl-C stops it)")
        _out(f"  state file: {root / '.aws-sam' / 'local-stack.json'}")
        _out("  upload documents:")
        _out(
            f"    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {endpoint} "
            f"--region {region} s3 cp ../shared/corpus/pdf/minimal-document.pdf s3://{bucket}/"
        )
        _out(
            f"    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {endpoint} "
            f"--region {region} s3 cp --recursive ../shared/corpus/pdf/ s3://{bucket}/corpus/"
        )
        invoke_url = session.local.invoke_endpoint
        _out(f"  warm Lambda Invoke API: {invoke_url}  (docpipe invoke uses it)")
        _out(
            f"    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {invoke_url} "
            f"--region {region} lambda invoke --function-name BackupFunction "
            """--cli-binary-format raw-in-base64-out --payload '{"action": "list"}' /dev/stdout"""
        )
        _out('  then, in another shell: docpipe status, docpipe search "question", docpipe backup create')
        _out("")
        while not stop.wait(0.5):
            pass
        _err("stopping: letting in-flight invocations finish...")
    finally:
        signal.signal(signal.SIGINT, previous)
        session.stop()
    _err("stopped")
    return 0


def _local_runner(target: Target, root: Path) -> Any:
    """A function runner for the running local stack (its resources, this process's sandboxes)."""
    from docpipe_cli.local import build
    from docpipe_cli.local.provision import Stack
    from docpipe_cli.local.runner import FunctionRunner, function_spec

    state = target.local_state
    built = Path(state.template_path)
    stack = Stack(
        built,
        parameters=state.parameters,
        region=state.region,
        stack_name=state.stack_name,
        endpoint=state.endpoint,
    )
    deps = build.ensure_runtime_deps(root)
    specs = {f: function_spec(stack, built, f, local=state, runtime_deps=deps) for f in stack.function_ids()}
    return FunctionRunner(specs, build.find_python313(), log=_err)


def invoke_apianswers(url: str) -> bool:
    """Whether a Lambda Invoke API (``docpipe local up``'s) answers at ``url``."""
    return answers(f"{url}/2015-03-31/functions/")


def invoke_through(url: str, function: str, event: Any) -> Any:
    """Invoke ``function`` through a Lambda Invoke API: the warm sandboxes of ``docpipe local up``."""
    import boto3
    from botocore.config import Config

    from docpipe_cli.local.runner import Invocation
    from docpipe_cli.local.session import REGION

    # One attempt: a retried invoke would run the handler twice. Reads wait out Lambda's longest timeout.
    client_config = Config(retries={"total_max_attempts": 1}, read_timeout=960, connect_timeout=5)
    session: Any = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    client = session.client("lambda", endpoint_url=url, config=client_config)
    response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    headers = {k.lower(): v for k, v in response["ResponseMetadata"]["HTTPHeaders"].items()}
    payload = json.loads(response["Payload"].read() or b"null")
    init = headers.get("x-docpipe-init-ms")
    failed = "FunctionError" in response
    return Invocation(
        function,
        headers.get("x-amzn-requestid", ""),
        result=None if failed else payload,
        error=payload if failed else None,
        duration_ms=float(headers.get("x-docpipe-duration-ms", 0)),
        init_ms=float(init) if init else None,
        cold=headers.get("x-docpipe-cold") == "true",
        sandbox_id=headers.get("x-docpipe-sandbox-id", ""),
    )


def _warm_endpoint(target: Target) -> str | None:
    """The local stack's invoke endpoint when it answers; otherwise say that this call runs cold."""
    url = str(target.local_state.invoke_endpoint or "") if target.local_state is not None else ""
    if url and invoke_apianswers(url):
        return url
    why = f"no invoke endpoint answers at {url}" if url else "the local stack serves no invoke endpoint"
    _err(f"({why}: starting a cold sandbox for this call; `docpipe local up` keeps them warm)")
    return None


def cmd_invoke(args: argparse.Namespace) -> int:
    """Docker-free ``sam local invoke``: the running local stack's warm sandboxes, or a cold one."""
    event = json.loads(Path(args.event).read_text(encoding="utf-8")) if args.event else {}
    root = root_or_cwd()
    if args.built_template:
        result = _invoke_built(Path(args.built_template), args.function, event, root)
    elif getattr(args, "invoke_endpoint", None):
        result = invoke_through(args.invoke_endpoint, args.function, event)
    else:
        target = resolve_target(args)
        if target.local_state is not None:
            url = None if args.cold else _warm_endpoint(target)
            if url:
                result = invoke_through(url, args.function, event)
            else:
                with _local_runner(target, root) as runner:
                    result = runner.invoke(args.function, event)
        else:
            from docpipe_cli.local.session import LocalSession

            _err("(no local stack is running: starting a throwaway one, cold)")
            with LocalSession(root, poll=False, log=_err, function_log=_err) as session:
                result = session.invoke(args.function, event)
    _err(
        f"REPORT RequestId: {result.request_id} Duration: {result.duration_ms:.1f} ms"
        + (f" Init Duration: {result.init_ms:.1f} ms" if result.init_ms is not None else "")
        + (f" Sandbox: {result.sandbox_id} ({'cold' if result.cold else 'warm'})" * bool(result.sandbox_id))
    )
    _out(json.dumps(result.payload(), indent=2, default=str))
    return 0 if result.ok else 1


def _invoke_built(built: Path, function: str, event: Any, root: Path) -> Any:
    """Invoke from an existing build folder against a throwaway emulator (no sam build)."""
    from docpipe_cli.local import build
    from docpipe_cli.local.provision import Stack, provision
    from docpipe_cli.local.runner import FunctionRunner, function_spec
    from docpipe_cli.local.server import LocalServer
    from docpipe_cli.local.session import emulator_client

    with LocalServer() as server:
        stack = Stack(built, endpoint=server.endpoint)
        local = provision(stack, lambda s: emulator_client(s, server.endpoint), log=lambda _line: None)
        deps = build.ensure_runtime_deps(root)
        spec = function_spec(stack, built, function, local=local, runtime_deps=deps)
        with FunctionRunner({function: spec}, build.find_python313(), log=_err) as runner:
            return runner.invoke(function, event)


def _parse_filter(text: str | None) -> dict[str, Any] | None:
    """``--filter`` is a JSON object in S3 Vectors filter syntax (the request's ``filter``)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        example = '{"page": {"$gte": 2}}'
        raise ValidationError("filter", f"--filter is not JSON ({error.msg}); e.g. '{example}'") from None
    if not isinstance(value, dict):
        raise ValidationError("filter", "--filter must be a JSON object")
    return value


def cmd_search(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    try:
        response = search(
            target,
            args.question,
            k=args.k,
            filter=_parse_filter(args.filter),
            rerank=args.rerank,
            neighbours=args.neighbours,
        )
    except ValidationError as error:
        if not args.json:
            raise
        _out(json.dumps(error.as_dict()))  # what SearchFunction answers a caller's mistake with
        return 1
    if args.json:  # SearchFunction's response, for scripts
        _out(json.dumps(response.as_dict(), indent=2, ensure_ascii=False))
        return 0
    if response.exact_fallback:
        _err("(this endpoint has no QueryVectors: results come from exact scoring over ListVectors)")
    if not response.matches:
        _out("no matches")
        return 0
    _out(
        f"{response.metric} similarity, higher is better; rerank {response.rerank}; {response.took_ms:.0f} ms"
    )
    for rank, match in enumerate(response.matches, 1):
        meta = match.metadata
        page, page_end, section = meta.get("page"), meta.get("page_end"), meta.get("section")
        where = str(meta.get("source_uri") or meta.get("key"))
        if page is not None:
            where += f" p.{page}" + (f"-{page_end}" if page_end not in (None, page) else "")
        if section:
            where += f" | {section}"
        text = " ".join(match.text.split())
        _out(f"{rank}. score {match.score:.4f}  {where}")
        _out(f"   {text[:300]}{'...' if len(text) > 300 else ''}")
        for entry in match.context or ():
            _out(f"   [context chunk {entry.get('chunk_no')}] {' '.join(entry['text'].split())[:160]}")
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    try:
        from docpipe_cli.mcp_server import serve
    except ImportError as error:
        raise ConfigError(f"docpipe mcp needs the MCP SDK: pip install 'docpipe[mcp]' ({error})") from None
    serve(resolve_target(args))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    for line in format_documents(documents(target, args.prefix or ""), target.scope()):
        _out(line)
    return 0


def reconcile_service(target: Target, bucket: str | None = None) -> Any:
    """A ReconcileService for ``backfill``, reconcile's enqueue half (no vector index needed)."""
    from docpipe.queue import MessageQueue
    from docpipe.reconcile import ReconcileService
    from docpipe.registry import DocumentRegistry
    from docpipe.s3 import S3Client

    s3 = target.client("s3")
    region = target.local_state.region if target.local_state else s3.meta.region_name
    if not region:
        raise ConfigError("no AWS region: pass --region or set AWS_REGION (the events name the region)")
    return ReconcileService(
        s3=S3Client(s3),
        registry=DocumentRegistry(
            target.client("dynamodb"), target.name("documents_table", "--documents-table")
        ),
        store=None,  # the enqueue half reads the bucket and the registry only
        queue=MessageQueue(target.client("sqs"), target.name("queue_url", "--queue-url")),
        bucket=bucket or target.name("documents_bucket", "--documents-bucket"),
        region=region,
        scope=target.scope(),  # the stack's: backfill enqueues no key IngestFunction would skip
    )


def backfill(target: Target, uri: str, *, progress: bool = True) -> int:
    """Enqueue the objects under ``s3://bucket/prefix`` the registry lacks or has another ETag for.

    Reconcile's enqueue half: the same merge of the listing with the registry and the same
    S3-shaped ``ObjectCreated`` messages (docs/architecture.md, "Reconcile"); objects already
    indexed as they are cost nothing. With ``progress`` a bar shows the objects listed and those
    enqueued against the total (a first listing counts them).
    """
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidInputError(f"{uri!r}: expected s3://bucket/prefix")
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    service = reconcile_service(target, bucket)
    if not progress:
        return int(service.enqueue_objects(prefix)["enqueued"])
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    total = service.count_documents(prefix)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("enqueued {task.fields[enqueued]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(f"s3://{bucket}/{prefix}", total=total, enqueued=0)

        def seen(report: Any) -> None:
            bar.update(task, completed=report.objects_listed, enqueued=report.enqueued)

        result = service.enqueue_objects(prefix, on_object=seen)
        bar.update(task, completed=result["objects_listed"], enqueued=result["enqueued"])
    return int(result["enqueued"])


def cmd_backfill(args: argparse.Namespace) -> int:
    total = backfill(resolve_target(args), args.uri, progress=not args.no_progress)
    _out(f"enqueued {total} objects; `docpipe status` shows them as they are indexed")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Invoke ReconcileFunction (locally in a sandbox, on AWS with lambda invoke) and print its report."""
    event = {"dry_run": bool(args.dry_run)}
    ok, report = invoke_function(resolve_target(args), "ReconcileFunction", "reconcile_function", event)
    _out(json.dumps(report, indent=2, default=str))
    if not ok:
        error = report if isinstance(report, dict) else {}
        _err(f"error: reconcile failed: {error.get('errorType')}: {error.get('errorMessage')}")
        return 1
    _err(reconcile_summary(report))
    return 1 if report.get("stopped") == "listing_failed" else 0


def reconcile_summary(report: dict[str, Any]) -> str:
    """One line: the drift found, what was done about it, and whether the pass finished."""
    counts = ", ".join(f"{name} {count}" for name, count in report.get("counts", {}).items())
    verb = "would enqueue" if report.get("dry_run") else "enqueued"
    end = "pass complete" if report.get("complete") else f"stopped: {report.get('stopped')}"
    ignored = ", ".join(f"{reason} {n}" for reason, n in (report.get("ignored") or {}).items() if n)
    return (
        f"drift {report.get('drift')} ({counts}); {verb} {report.get('enqueued')}, "
        f"deleted {report.get('vectors_deleted')} orphan vectors; "
        + (f"outside the scope, ignored: {ignored}; " if ignored else "")
        + end
    )


def backup_event(args: argparse.Namespace) -> dict[str, Any]:
    action = {"create": "backup"}.get(args.action, args.action)
    event: dict[str, Any] = {"action": action}
    for name in ("backup", "index", "target_index", "mode"):
        value = getattr(args, name, None)
        if value:
            event[name] = value
    if getattr(args, "compare_live", False):
        event["compare_live"] = True
    if getattr(args, "no_registry", False):
        event["restore_registry"] = False
    return event


def invoke_backup(target: Target, event: dict[str, Any]) -> tuple[bool, Any]:
    """Run the BackupFunction: locally in a sandbox, on AWS with lambda invoke."""
    return invoke_function(target, "BackupFunction", "backup_function", event)


def invoke_function(target: Target, logical_id: str, name: str, event: dict[str, Any]) -> tuple[bool, Any]:
    """Run a stack function: the local stack's warm sandbox (or a cold one), or lambda invoke on AWS."""
    if target.local_state is not None:
        url = target.local_state.invoke_endpoint
        if url and invoke_apianswers(url):
            result = invoke_through(url, logical_id, event)
        else:
            with _local_runner(target, root_or_cwd()) as runner:
                result = runner.invoke(logical_id, event)
        return result.ok, result.payload()
    function = target.name(name, "--" + name.replace("_", "-"))
    response = target.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    return "FunctionError" not in response, payload


def cmd_backup(args: argparse.Namespace) -> int:
    ok, payload = invoke_backup(resolve_target(args), backup_event(args))
    _out(json.dumps(payload, indent=2, default=str))
    if not ok:
        error = payload if isinstance(payload, dict) else {}
        _err(f"error: backup {args.action} failed: {error.get('errorType')}: {error.get('errorMessage')}")
        return 1
    return verify_exit_code(payload) if args.action == "verify" else 0


def verify_exit_code(payload: Any) -> int:
    """A verification that finds a problem fails the command, as a failed check should in a script."""
    report = payload if isinstance(payload, dict) else {}
    if report.get("ok") is not True:
        where = f" ({report.get('member')})" if report.get("member") else ""
        _err(f"error: backup {report.get('key')} failed verification: {report.get('problem')}{where}")
        return 1
    if report.get("live_compared") and not report.get("live_matches"):
        _err(
            f"error: the live index differs from backup {report.get('key')}: "
            f"{report.get('live_missing')} missing, {report.get('live_extra')} extra, "
            f"{report.get('live_changed')} changed"
        )
        return 1
    return 0


# -- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
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

    # No abbreviations: the top-level parser would read `backup --backup` as an ambiguous
    # `--backups-bucket` / `--backup-function` before the subcommand parser sees it.
    parser = argparse.ArgumentParser(
        prog="docpipe", description=__doc__.splitlines()[0], parents=[common], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", parents=[common], help="the whole pipeline on the embedded emulator, checked")
    p.add_argument("--workers", type=int)
    p.add_argument("--corpus", help="folder of PDFs (default ../shared/corpus/pdf)")
    p.add_argument(
        "--no-pdf-password",
        action="store_true",
        help="do not provision the demo password secret: the encrypted PDF is skipped",
    )
    p.set_defaults(func=cmd_demo)

    local = sub.add_parser("local", help="the local stack").add_subparsers(
        dest="local_command", required=True
    )
    p = local.add_parser("up", parents=[common], help="start the local stack in the foreground")
    p.add_argument("--state-dir", help="persist the emulator's state here between runs")
    p.add_argument("--port", type=int, help="moto server port (default: a free one)")
    p.add_argument("--workers", type=int, help="queue workers (default: the template's MaximumConcurrency)")
    p.add_argument("--invoke-port", type=int, help="Lambda Invoke API port (default: a free one)")
    p.set_defaults(func=cmd_local_up)

    p = sub.add_parser(
        "invoke", parents=[common], help="run a function locally (Docker-free sam local invoke)"
    )
    p.add_argument("function", help="logical id, e.g. IngestFunction")
    p.add_argument("--event", "-e", help="event JSON file (events/...)")
    p.add_argument("--built-template", help="use this sam build output as is (no build, throwaway emulator)")
    p.add_argument(
        "--cold", action="store_true", help="start a fresh sandbox even when the local stack has a warm one"
    )
    p.add_argument(
        "--invoke-endpoint",
        help="a Lambda Invoke API with warm sandboxes (default: the running docpipe local up's)",
    )
    p.set_defaults(func=cmd_invoke)

    p = sub.add_parser("search", parents=[common], help="search the index (the path SearchFunction runs)")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5, help="matches to return (1-100)")
    p.add_argument(
        "--filter",
        metavar="JSON",
        help='S3 Vectors filter, e.g. \'{"key": {"$eq": "docs/a.pdf"}, "page": {"$gte": 2}}\'',
    )
    p.add_argument(
        "--rerank", choices=RERANK_MODES, help="none, lexical or bedrock (default: the stack's SEARCH_RERANK)"
    )
    p.add_argument("--neighbours", type=int, default=0, help="also print 0-2 chunks around each match")
    p.add_argument(
        "--json",
        action="store_true",
        default=False,
        help="print SearchFunction's JSON response (a mistake: its ValidationError object, exit 1)",
    )
    p.set_defaults(func=cmd_search)

    p = sub.add_parser(
        "mcp", parents=[common], help="an MCP server on stdio: search_documents and document_status tools"
    )
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("status", parents=[common], help="documents and their states")
    p.add_argument("prefix", nargs="?", default="")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "backfill", parents=[common], help="enqueue objects the registry lacks (reconcile's enqueue half)"
    )
    p.add_argument("uri", help="s3://bucket/prefix")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser(
        "reconcile", parents=[common], help="find and repair drift (ReconcileFunction); prints its report"
    )
    p.add_argument("--dry-run", action="store_true", help="report the drift, change nothing")
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("backup", parents=[common], help="backup actions (BackupFunction)")
    p.add_argument("action", choices=("create", "list", "verify", "restore", "prune"))
    p.add_argument("--backup", help="backup key or 'latest' (verify, restore)")
    p.add_argument("--index", help="index whose backups to list/prune")
    p.add_argument("--target-index", dest="target_index", help="restore into this index")
    p.add_argument("--mode", choices=("replace", "merge"))
    p.add_argument("--compare-live", action="store_true", help="verify: compare with the live index")
    p.add_argument("--no-registry", action="store_true", help="restore: leave the registry alone")
    p.set_defaults(func=cmd_backup)
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
        _err("interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        from botocore.exceptions import BotoCoreError, ClientError

        known = (DocpipeError, ClientError, BotoCoreError, OSError, ValueError)
        kind = "error" if isinstance(exc, known) else f"unexpected {type(exc).__name__}"
        _err(f"{kind}: {exc} (run with --debug for the traceback)")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

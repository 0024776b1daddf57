"""Fail the build when a function plus its layers would unzip past a size budget.

Lambda refuses a function whose code and layers add up to more than 250 MiB unzipped, and it only
says so at deploy time. This reads the ``sam build`` output (``.aws-sam/build/template.yaml``),
adds up each function's built folder and the built folders of the layers it uses, and fails
above a budget (default 100 MiB) well before the hard limit, so growth shows up in review.

Conditional layers (``!If [UseOfflineEmbeddings, !Ref OfflineEmbeddingsLayer, ...]``) are resolved
with the template's parameter defaults, or the values given with ``--parameter Name=value``: the
budget holds for the configuration you deploy. Every configuration (all ``Fn::If`` branches at
once) must still fit Lambda's hard limit, since any of them can be deployed.

Usage: ``python scripts/check_build_size.py [--build-dir .aws-sam/build] [--budget-mb 100]
[--parameter EmbeddingProvider=offline]`` (``make size-check`` runs it after ``make build``).
Exit codes: 0 within budget, 1 over budget or over the hard limit, 2 when the build output is
missing or unreadable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
LAMBDA_UNZIPPED_LIMIT_MIB = 250  # code + all layers, unzipped (Lambda quota: 262,144,000 bytes)
DEFAULT_BUDGET_MIB = 100.0
FUNCTION_TYPES = {"AWS::Serverless::Function": "CodeUri", "AWS::Lambda::Function": "Code"}
LAYER_TYPES = {"AWS::Serverless::LayerVersion": "ContentUri", "AWS::Lambda::LayerVersion": "Content"}


class BuildOutputError(Exception):
    """The build output is missing or is not what ``sam build`` writes."""


@dataclass(frozen=True)
class LayerSize:
    """One layer's built folder and its unzipped size."""

    logical_id: str
    path: Path
    size: int


@dataclass(frozen=True)
class FunctionSize:
    """A function's unzipped size with every layer it may get attached."""

    logical_id: str
    path: Path
    code_size: int
    layers: tuple[LayerSize, ...] = ()
    unmeasured_layers: tuple[str, ...] = field(default=())
    worst_layers: tuple[LayerSize, ...] = ()

    @property
    def total(self) -> int:
        """Bytes Lambda unpacks for this function as configured: its code plus each distinct layer."""
        return self.code_size + sum(layer.size for layer in self.layers)

    @property
    def worst_total(self) -> int:
        """Bytes with every layer any parameter choice may attach."""
        return self.code_size + sum(layer.size for layer in self.worst_layers)


def load_template(path: Path) -> dict[str, Any]:
    """Read the built template with docpipe's one template reader (short-form tags included)."""
    from docpipe.exceptions import ConfigError
    from docpipe_cli.template import load_template as read_template

    if not path.is_file():
        raise BuildOutputError(f"{path} not found: run `make build` (sam build) first")
    try:
        data = read_template(path)
    except ConfigError as e:
        raise BuildOutputError(str(e)) from e
    if not isinstance(data.get("Resources"), dict):
        raise BuildOutputError(f"{path} has no Resources section")
    return data


def folder_size(path: Path) -> int:
    """Bytes of every regular file under ``path`` (what ends up in the zip, unzipped)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root) / name
            if file.is_file():
                total += file.stat().st_size
    return total


class _Unknown(Exception):
    """A condition depends on something only CloudFormation knows (a pseudo parameter, say)."""


def _value(value: Any, params: Mapping[str, str]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        if value["Ref"] not in params:
            raise _Unknown(value["Ref"])
        return params[value["Ref"]]
    if isinstance(value, (str, int, float, bool)):
        return str(value).lower() if isinstance(value, bool) else str(value)
    raise _Unknown(repr(value))


def evaluate_condition(expr: Any, conditions: Mapping[str, Any], params: Mapping[str, str]) -> bool:
    """Evaluate a CloudFormation condition (Equals/Not/And/Or/Condition) for given parameters."""
    if isinstance(expr, str):  # the name of a condition, as Fn::If and Condition give it
        if expr not in conditions:
            raise _Unknown(expr)
        return evaluate_condition(conditions[expr], conditions, params)
    if isinstance(expr, dict) and len(expr) == 1:
        ((fn, args),) = expr.items()
        if fn == "Condition":
            return evaluate_condition(args, conditions, params)
        if fn == "Fn::Equals":
            return bool(_value(args[0], params) == _value(args[1], params))
        if fn == "Fn::Not":
            return not evaluate_condition(args[0], conditions, params)
        if fn == "Fn::And":
            return all(evaluate_condition(a, conditions, params) for a in args)
        if fn == "Fn::Or":
            return any(evaluate_condition(a, conditions, params) for a in args)
    raise _Unknown(repr(expr))


def _layer_refs(value: Any, choose: Callable[[str], bool | None]) -> Iterable[Any]:
    """Every layer a ``Layers`` entry resolves to; ``choose(condition)`` picks an ``Fn::If`` branch.

    When ``choose`` returns None (unknown, or the worst case is wanted) both branches count.
    """
    if isinstance(value, list):
        for item in value:
            yield from _layer_refs(item, choose)
    elif isinstance(value, dict) and "Fn::If" in value:
        branches = value["Fn::If"]
        if isinstance(branches, list) and len(branches) == 3:
            chosen = choose(str(branches[0]))
            if chosen is None or chosen:
                yield from _layer_refs(branches[1], choose)
            if chosen is None or not chosen:
                yield from _layer_refs(branches[2], choose)
    elif isinstance(value, dict) and value.get("Ref") == "AWS::NoValue":
        return
    else:
        yield value


def _built_path(build_dir: Path, logical_id: str, uri: Any, kind: str) -> Path:
    if not isinstance(uri, str):
        raise BuildOutputError(
            f"{kind} {logical_id} has a non-local code location ({uri!r}); "
            "this check reads the output of `sam build`, not of `sam package`"
        )
    path = (build_dir / uri).resolve()
    if not path.exists():
        raise BuildOutputError(f"{kind} {logical_id}: built folder {path} does not exist")
    return path


def measure(build_dir: Path, parameters: Mapping[str, str] | None = None) -> list[FunctionSize]:
    """Sizes of every zip-packaged function in a ``sam build`` output folder.

    Layers are counted once per function. ``Fn::If`` layers follow the conditions evaluated with
    the template's parameter defaults overridden by ``parameters``; ``worst_layers`` takes every
    branch. Layers given as ARNs (not built here) are listed as unmeasured rather than silently
    counted as zero.
    """
    template = load_template(build_dir / "template.yaml")
    resources: dict[str, Any] = template["Resources"]
    global_layers = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []
    params = {
        name: str(spec["Default"])
        for name, spec in (template.get("Parameters") or {}).items()
        if isinstance(spec, dict) and "Default" in spec
    }
    params.update(parameters or {})
    conditions: dict[str, Any] = template.get("Conditions") or {}

    def configured(condition: str) -> bool | None:
        try:
            return evaluate_condition(condition, conditions, params)
        except (_Unknown, IndexError, TypeError):
            return None

    layers: dict[str, LayerSize] = {}
    for logical_id, resource in resources.items():
        prop = LAYER_TYPES.get(resource.get("Type", ""))
        if prop is None:
            continue
        path = _built_path(build_dir, logical_id, (resource.get("Properties") or {}).get(prop), "layer")
        layers[logical_id] = LayerSize(logical_id, path, folder_size(path))

    functions: list[FunctionSize] = []
    for logical_id, resource in resources.items():
        prop = FUNCTION_TYPES.get(resource.get("Type", ""))
        if prop is None:
            continue
        props = resource.get("Properties") or {}
        if props.get("PackageType") == "Image":
            continue  # container images have a 10 GB limit of their own
        path = _built_path(build_dir, logical_id, props.get(prop), "function")
        entries = list(global_layers) + list(props.get("Layers") or [])
        attached, unmeasured = _resolve_layers(entries, layers, configured)
        worst, _ = _resolve_layers(entries, layers, lambda _condition: None)
        functions.append(
            FunctionSize(
                logical_id=logical_id,
                path=path,
                code_size=folder_size(path),
                layers=attached,
                unmeasured_layers=unmeasured,
                worst_layers=worst,
            )
        )
    return functions


def _resolve_layers(
    entries: list[Any], layers: Mapping[str, LayerSize], choose: Callable[[str], bool | None]
) -> tuple[tuple[LayerSize, ...], tuple[str, ...]]:
    attached: dict[str, LayerSize] = {}
    unmeasured: list[str] = []
    for ref in _layer_refs(entries, choose):
        target = ref.get("Ref") if isinstance(ref, dict) else None
        if isinstance(target, str) and target in layers:
            attached[target] = layers[target]
        else:
            unmeasured.append(str(ref))
    return tuple(attached.values()), tuple(unmeasured)


def _mib(size: int) -> str:
    return f"{size / MIB:.1f}"


def render_table(functions: Sequence[FunctionSize], budget_mib: float) -> str:
    """A Markdown table readable in a terminal and in a GitHub job summary."""
    lines = [
        f"Unzipped size per function with its layers (budget {budget_mib:g} MiB, "
        f"Lambda limit {LAMBDA_UNZIPPED_LIMIT_MIB} MiB)",
        "",
        "| function | code MiB | layers | total MiB | any config MiB | status |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for fn in functions:
        layer_text = ", ".join(f"{layer.logical_id} {_mib(layer.size)}" for layer in fn.layers) or "-"
        if fn.unmeasured_layers:
            layer_text += f" (+ unmeasured: {', '.join(fn.unmeasured_layers)})"
        if fn.worst_total > LAMBDA_UNZIPPED_LIMIT_MIB * MIB:
            status = "over Lambda's limit in some configuration"
        elif fn.total > budget_mib * MIB:
            status = "over budget"
        else:
            status = "ok"
        lines.append(
            f"| {fn.logical_id} | {_mib(fn.code_size)} | {layer_text} | {_mib(fn.total)} "
            f"| {_mib(fn.worst_total)} | {status} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Check the budget and print a table; the exit code says whether the build fits."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument(
        "--budget-mb",
        type=float,
        default=float(os.environ.get("SIZE_BUDGET_MB") or DEFAULT_BUDGET_MIB),
        help="budget per function incl. layers, in MiB (default 100, env SIZE_BUDGET_MB)",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        default=Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None,
        help="also append the table to this Markdown file (default: $GITHUB_STEP_SUMMARY when set)",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter value for the conditions (repeatable; default: the template's defaults)",
    )
    args = parser.parse_args(argv)
    parameters: dict[str, str] = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--parameter takes NAME=VALUE, got {item!r}")
        parameters[name] = value
    if not 0 < args.budget_mb <= LAMBDA_UNZIPPED_LIMIT_MIB:
        parser.error(f"--budget-mb must be in (0, {LAMBDA_UNZIPPED_LIMIT_MIB}] (Lambda's unzipped limit)")

    try:
        functions = measure(args.build_dir, parameters)
    except BuildOutputError as e:
        print(f"check_build_size: {e}", file=sys.stderr)
        return 2
    if not functions:
        print(
            f"check_build_size: no zip-packaged function in {args.build_dir / 'template.yaml'}",
            file=sys.stderr,
        )
        return 2

    table = render_table(functions, args.budget_mb)
    print(table)
    if args.summary is not None:
        with args.summary.open("a", encoding="utf-8") as out:
            out.write(f"### Lambda package sizes\n\n{table}\n\n")
    over = [fn for fn in functions if fn.total > args.budget_mb * MIB]
    for fn in over:
        print(
            f"check_build_size: {fn.logical_id} is {_mib(fn.total)} MiB unzipped with its layers, "
            f"over the {args.budget_mb:g} MiB budget",
            file=sys.stderr,
        )
    too_big = [fn for fn in functions if fn.worst_total > LAMBDA_UNZIPPED_LIMIT_MIB * MIB]
    for fn in too_big:
        print(
            f"check_build_size: {fn.logical_id} would be {_mib(fn.worst_total)} MiB with every conditional "
            f"layer attached, over Lambda's {LAMBDA_UNZIPPED_LIMIT_MIB} MiB limit",
            file=sys.stderr,
        )
    unmeasured = sorted({name for fn in functions for name in fn.unmeasured_layers})
    if unmeasured:
        print(f"check_build_size: not measured (not built here): {', '.join(unmeasured)}", file=sys.stderr)
    return 1 if over or too_big else 0


if __name__ == "__main__":
    sys.exit(main())

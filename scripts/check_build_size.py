"""Fail the build when a function plus its layers would unzip past a size budget.

Lambda refuses a function whose code and layers add up to more than 250 MiB unzipped, and it only
says so at deploy time. This reads the ``sam build`` output (``.aws-sam/build/template.yaml``),
adds up each function's built folder and the built folders of the layers it uses, and fails
above a budget (default 100 MiB) well before the hard limit, so growth shows up in review.

Usage: ``python scripts/check_build_size.py [--build-dir .aws-sam/build] [--budget-mb 100]``
(``make size-check`` runs it after ``make build``). Exit codes: 0 within budget, 1 over budget,
2 when the build output is missing or unreadable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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

    @property
    def total(self) -> int:
        """Bytes Lambda unpacks for this function: its code plus each distinct layer."""
        return self.code_size + sum(layer.size for layer in self.layers)


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (``!Ref``, ``!If``) into their long form."""


def _construct_cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_template(path: Path) -> dict[str, Any]:
    """Read a CloudFormation/SAM template, short-form tags included."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except FileNotFoundError as e:
        raise BuildOutputError(f"{path} not found: run `make build` (sam build) first") from e
    except yaml.YAMLError as e:
        raise BuildOutputError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
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


def _layer_refs(value: Any) -> Iterable[Any]:
    """Every layer a ``Layers`` entry may resolve to; both branches of an ``Fn::If`` count."""
    if isinstance(value, list):
        for item in value:
            yield from _layer_refs(item)
    elif isinstance(value, dict) and "Fn::If" in value:
        branches = value["Fn::If"]
        if isinstance(branches, list) and len(branches) == 3:
            yield from _layer_refs(branches[1])
            yield from _layer_refs(branches[2])
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


def measure(build_dir: Path) -> list[FunctionSize]:
    """Sizes of every zip-packaged function in a ``sam build`` output folder.

    Layers are counted once per function, including the ones a condition may attach
    (``Fn::If``), because the budget must hold for every parameter combination. Layers given
    as ARNs (not built here) are listed as unmeasured rather than silently counted as zero.
    """
    template = load_template(build_dir / "template.yaml")
    resources: dict[str, Any] = template["Resources"]
    global_layers = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []

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
        attached: dict[str, LayerSize] = {}
        unmeasured: list[str] = []
        for ref in _layer_refs(list(global_layers) + list(props.get("Layers") or [])):
            target = ref.get("Ref") if isinstance(ref, dict) else None
            if isinstance(target, str) and target in layers:
                attached[target] = layers[target]
            else:
                unmeasured.append(str(ref))
        functions.append(
            FunctionSize(
                logical_id=logical_id,
                path=path,
                code_size=folder_size(path),
                layers=tuple(attached.values()),
                unmeasured_layers=tuple(unmeasured),
            )
        )
    return functions


def _mib(size: int) -> str:
    return f"{size / MIB:.1f}"


def render_table(functions: Sequence[FunctionSize], budget_mib: float) -> str:
    """A Markdown table readable in a terminal and in a GitHub job summary."""
    lines = [
        f"Unzipped size per function with its layers (budget {budget_mib:g} MiB, "
        f"Lambda limit {LAMBDA_UNZIPPED_LIMIT_MIB} MiB)",
        "",
        "| function | code MiB | layers | total MiB | status |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for fn in functions:
        layer_text = ", ".join(f"{layer.logical_id} {_mib(layer.size)}" for layer in fn.layers) or "-"
        if fn.unmeasured_layers:
            layer_text += f" (+ unmeasured: {', '.join(fn.unmeasured_layers)})"
        status = "over budget" if fn.total > budget_mib * MIB else "ok"
        lines.append(
            f"| {fn.logical_id} | {_mib(fn.code_size)} | {layer_text} | {_mib(fn.total)} | {status} |"
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
    args = parser.parse_args(argv)
    if not 0 < args.budget_mb <= LAMBDA_UNZIPPED_LIMIT_MIB:
        parser.error(f"--budget-mb must be in (0, {LAMBDA_UNZIPPED_LIMIT_MIB}] (Lambda's unzipped limit)")

    try:
        functions = measure(args.build_dir)
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
    unmeasured = sorted({name for fn in functions for name in fn.unmeasured_layers})
    if unmeasured:
        print(f"check_build_size: not measured (not built here): {', '.join(unmeasured)}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())

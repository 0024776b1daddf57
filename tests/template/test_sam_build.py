"""`sam build` output: layout, per-architecture wheels, size, and handlers importable as Lambda would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.build_support import (
    ELF_MACHINE,
    HOST_TEMPLATE,
    LAMBDA_UNZIPPED_LIMIT_BYTES,
    RUNTIME_PACKAGES,
    directory_size,
    elf_machine,
    function_architecture,
    function_environment,
    function_layers,
    host_architecture,
    layer_architecture,
    load_template,
)

pytestmark = pytest.mark.build

FUNCTION_IDS = ("IngestFunction", "BackupFunction", "SearchFunction")
LAYER_IDS = ("DocpipeLayer", "DocpipeLayerArm64", "OfflineEmbeddingsLayer")
PROVIDERS = {
    "bedrock": {"EmbeddingProvider": "bedrock"},
    "offline": {"EmbeddingProvider": "offline", "EmbeddingDimension": "256"},
}


def _elf_files(folder: Path) -> dict[Path, int]:
    found: dict[Path, int] = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            machine = elf_machine(path)
            if machine is not None:
                found[path] = machine
    return found


def _architecture_of(template: dict[str, Any], logical_id: str) -> str:
    if template["Resources"][logical_id]["Type"] == "AWS::Serverless::Function":
        return function_architecture(template, logical_id)
    return layer_architecture(template, logical_id)


# ---------------------------------------------------------------- the deployable build


def test_deployable_build_holds_every_function_and_layer(deploy_build: Path) -> None:
    built = {p.name for p in deploy_build.iterdir() if p.is_dir()}

    assert set(FUNCTION_IDS) | set(LAYER_IDS) <= built
    assert (deploy_build / "template.yaml").is_file()


@pytest.mark.parametrize("layer_id", ["DocpipeLayer", "DocpipeLayerArm64"])
def test_built_layer_holds_the_package_at_python_docpipe(deploy_build: Path, layer_id: str) -> None:
    python = deploy_build / layer_id / "python"

    assert (python / "docpipe" / "__init__.py").is_file()
    assert (python / "docpipe" / "config.py").is_file()
    assert not (python / "python").exists()


@pytest.mark.parametrize("layer_id", ["DocpipeLayer", "DocpipeLayerArm64"])
def test_built_layer_holds_no_cli_and_no_local_stack(deploy_build: Path, layer_id: str) -> None:
    python = deploy_build / layer_id / "python"

    assert not (python / "docpipe" / "cli.py").exists()
    assert not (python / "docpipe" / "local").exists()
    assert not (python / "docpipe_cli").exists()
    assert not list(python.glob("moto*")), "the emulator is developer tooling, not a layer dependency"


def test_built_offline_layer_carries_wordllama_with_its_weights(deploy_build: Path) -> None:
    package = deploy_build / "OfflineEmbeddingsLayer" / "python" / "wordllama"

    assert package.is_dir()
    assert list(package.rglob("*.safetensors"))


def test_built_template_keeps_the_offline_layer_conditional(deploy_build: Path) -> None:
    built = load_template(deploy_build / "template.yaml")
    layers = built["Resources"]["IngestFunction"]["Properties"]["Layers"]

    assert built["Resources"]["OfflineEmbeddingsLayer"]["Condition"] == "UseOfflineEmbeddings"
    assert {
        "Fn::If": ["UseOfflineEmbeddings", {"Ref": "OfflineEmbeddingsLayer"}, {"Ref": "AWS::NoValue"}]
    } in layers


@pytest.mark.parametrize("logical_id", FUNCTION_IDS + LAYER_IDS)
def test_every_compiled_file_matches_its_declared_architecture(
    deploy_build: Path, template: dict[str, Any], logical_id: str
) -> None:
    expected = ELF_MACHINE[_architecture_of(template, logical_id)]
    compiled = _elf_files(deploy_build / logical_id)

    wrong = sorted(str(p.relative_to(deploy_build)) for p, machine in compiled.items() if machine != expected)
    assert not wrong, f"{len(wrong)} compiled files for another architecture, e.g. {wrong[:5]}"
    if logical_id in LAYER_IDS:
        assert compiled, "a layer with compiled wheels should hold ELF files"


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_each_function_with_its_layers_fits_lambdas_unzipped_limit(
    deploy_build: Path, template: dict[str, Any], function_id: str, provider: str
) -> None:
    parts = [function_id, *function_layers(template, function_id, PROVIDERS[provider])]
    total = sum(directory_size(deploy_build / part) for part in parts)

    print(f"{function_id} ({provider}): {total / 1e6:.1f} MB unzipped ({', '.join(parts)})")
    assert total < LAMBDA_UNZIPPED_LIMIT_BYTES


# ---------------------------------------------------------------- the host build (local runs)


def test_host_build_uses_this_machines_architecture_everywhere(host_build: Path) -> None:
    host = load_template(HOST_TEMPLATE)
    architectures = {
        _architecture_of(host, logical_id)
        for logical_id, resource in host["Resources"].items()
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")
    }
    machines = set(_elf_files(host_build).values())

    assert architectures == {host_architecture()}
    assert machines == {ELF_MACHINE[host_architecture()]}


def _import_handler(
    python313: Path,
    host_build: Path,
    runtime_deps: Path,
    template: dict[str, Any],
    function_id: str,
    provider: str,
) -> subprocess.CompletedProcess[str]:
    overrides = PROVIDERS[provider]
    layers = function_layers(template, function_id, overrides)
    # Lambda unpacks layers in order into /opt, later ones overwriting: the last layer wins.
    layer_paths = [str(host_build / layer / "python") for layer in reversed(layers)]
    paths = [str(host_build / function_id), *layer_paths, str(runtime_deps)]
    env = {
        **function_environment(template, function_id, overrides),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LAMBDA_TASK_ROOT": str(host_build / function_id),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PATH": "/usr/bin:/bin",
    }
    code = f"""
import json, sys
sys.path[:0] = {paths!r}
import app
assert callable(app.handler), "app.handler is not callable"
names = ("app", "docpipe", "boto3", "botocore")
roots = {{name: getattr(sys.modules.get(name), "__file__", None) for name in names}}
print(json.dumps(roots))
"""
    return subprocess.run(
        [str(python313), "-I", "-S", "-c", code],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("function_id", "provider"),
    [
        ("IngestFunction", "bedrock"),
        ("IngestFunction", "offline"),
        ("BackupFunction", "bedrock"),
        ("SearchFunction", "bedrock"),
        ("SearchFunction", "offline"),
    ],
)
def test_built_handler_imports_with_only_what_lambda_provides(
    python313: Path,
    host_build: Path,
    runtime_deps: Path,
    template: dict[str, Any],
    function_id: str,
    provider: str,
) -> None:
    result = _import_handler(python313, host_build, runtime_deps, template, function_id, provider)

    assert result.returncode == 0, result.stderr[-4000:]
    origins = json.loads(result.stdout.strip().splitlines()[-1])
    assert origins["app"].startswith(str(host_build / function_id))
    assert origins["docpipe"] is None or origins["docpipe"].startswith(str(host_build))
    for name in ("boto3", "botocore"):
        if origins[name] is not None:
            assert origins[name].startswith((str(host_build), str(runtime_deps)))


def test_runtime_folder_holds_only_what_the_lambda_runtime_ships(runtime_deps: Path) -> None:
    top_level = {
        p.name.removesuffix(".py")
        for p in runtime_deps.iterdir()
        if not p.name.endswith(".dist-info") and not p.name.startswith((".", "_"))
    }

    assert top_level - {"bin"} <= set(RUNTIME_PACKAGES)
    assert {"boto3", "botocore"} <= top_level

"""`sam build` output: layout, per-architecture wheels, size, and handlers importable as Lambda would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from docpipe_cli.local.build import host_architecture
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


# The offline OCR engine (the ocr extra): top-level names its wheels install.
OCR_PACKAGES = ("rapidocr", "onnxruntime", "cv2")


def _ocr_packages(python: Path) -> set[str]:
    return {name for name in OCR_PACKAGES if (python / name).is_dir()}


def test_host_build_gives_ingest_functions_layer_the_offline_ocr_engine(host_build: Path) -> None:
    # The local stack runs OcrProvider=rapidocr: IngestFunction's docpipe layer carries the engine
    from docpipe.ocr.rapidocr import MODEL_FILES
    from docpipe_cli.local.build import ocr_layers

    host = load_template(HOST_TEMPLATE)
    (layer,) = ocr_layers(HOST_TEMPLATE)
    python = host_build / layer / "python"

    assert {"Ref": layer} in host["Resources"]["IngestFunction"]["Properties"]["Layers"]
    assert _ocr_packages(python) == set(OCR_PACKAGES)
    assert {p.name for p in (python / "rapidocr" / "models").iterdir()} >= set(MODEL_FILES.values())
    others = [lid for lid in LAYER_IDS if lid != layer]
    assert {lid: _ocr_packages(host_build / lid / "python") for lid in others} == {
        lid: set() for lid in others
    }


@pytest.mark.parametrize("layer_id", LAYER_IDS)
def test_deployable_build_carries_no_offline_ocr_engine(deploy_build: Path, layer_id: str) -> None:
    # Too large for Lambda's unzipped limit: on AWS, OCR is Textract (or a container image)
    assert _ocr_packages(deploy_build / layer_id / "python") == set()


# Modules docpipe imports (guarded) that Lambda's python3.13 runtime provides itself, in no layer:
# SnapStart's runtime hooks (docpipe.snapstart).
LAMBDA_RUNTIME_ONLY_MODULES = ("snapshot_restore_py",)

# docpipe sources whose imports the docpipe layer does not carry, with the layer that does (None:
# no zip layer; rapidocr's ONNX runtime and OpenCV are for container images and the local stack).
IMPORTS_FROM_ELSEWHERE = {"embeddings/offline.py": "OfflineEmbeddingsLayer", "ocr/rapidocr.py": None}

# Run inside the built layer after the handler's import: every docpipe module, then every other
# package a docpipe source file imports (lazy imports inside functions included; those of
# IMPORTS_FROM_ELSEWHERE only where their layer is attached), then a document
# of each zip format through parse_document and chunk_document (python-pptx loads Pillow).
_EVERY_IMPORT = """
import ast, importlib, io, pkgutil
from pathlib import Path
import docpipe
modules = ["docpipe"] + [m.name for m in pkgutil.walk_packages(docpipe.__path__, "docpipe.")]
package = Path(docpipe.__file__).parent
third_party = set()
for source in package.rglob("*.py"):
    if source.relative_to(package).as_posix() in elsewhere:
        continue
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            third_party |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            third_party.add(node.module.partition(".")[0])
third_party -= set(sys.stdlib_module_names) | {"docpipe", "__future__"} | runtime_only
imported = sorted(modules + sorted(third_party))
for name in imported:
    importlib.import_module(name)

def _parse_office_documents():
    import docx, openpyxl, pptx
    from docpipe.chunking import chunk_document
    from docpipe.parsers import parse_document
    files = {}
    book = openpyxl.Workbook()
    book.active.append(["name", "value"])
    book.active.append(["layer", "docpipe"])
    files["sheet.xlsx"] = book
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Layer"
    slide.placeholders[1].text = "docpipe in the built layer"
    files["deck.pptx"] = deck
    document = docx.Document()
    document.add_heading("Layer", level=1)
    document.add_paragraph("docpipe in the built layer")
    files["doc.docx"] = document
    chunks = {}
    for key, made in files.items():
        out = io.BytesIO()
        made.save(out)
        parsed = parse_document(out.getvalue(), key=key)
        found = chunk_document(parsed, chunk_size=200, chunk_overlap=0, base_metadata={})
        chunks[key] = " ".join(chunk.text for chunk in found)
    return chunks
"""


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
elsewhere = {sorted(name for name, layer in IMPORTS_FROM_ELSEWHERE.items() if layer not in layers)!r}
runtime_only = {set(LAMBDA_RUNTIME_ONLY_MODULES)!r}
{_EVERY_IMPORT}
roots["imported"] = imported
roots["formats"] = _parse_office_documents()
roots["loaded"] = sorted({{name.partition(".")[0] for name in sys.modules}})
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
    # every docpipe module and every package docpipe imports loaded from the built layer
    assert {
        "docpipe.parsers.pptx",
        "docpipe.parsers.xlsx",
        "pptx",
        "openpyxl",
        "langchain_text_splitters",
    } <= set(origins["imported"])
    assert (provider == "offline") == ("numpy" in origins["imported"])
    for key, text in origins["formats"].items():
        assert "docpipe" in text, (key, text)
    assert not {"zstandard", "websockets"} & set(origins["loaded"])


@pytest.mark.parametrize("layer_id", ["DocpipeLayer", "DocpipeLayerArm64"])
def test_built_layer_leaves_out_zstandard_and_websockets(deploy_build: Path, layer_id: str) -> None:
    # langsmith (langchain-core's dependency, loaded by docpipe.retriever) requires both but
    # imports neither: the handler test above imports everything docpipe does from the host
    # build, where they are equally absent
    python = deploy_build / layer_id / "python"
    present = {p.name.partition("-")[0].lower() for p in python.iterdir()}

    assert {"langchain_core", "langsmith"} <= present, "what docpipe imports stays"
    assert not {"zstandard", "websockets"} & present
    assert not (python / "bin").exists(), "console scripts do not run in Lambda"
    assert not list((python / "docpipe").rglob("__pycache__"))


def test_runtime_folder_holds_only_what_the_lambda_runtime_ships(runtime_deps: Path) -> None:
    top_level = {
        p.name.removesuffix(".py")
        for p in runtime_deps.iterdir()
        if not p.name.endswith(".dist-info") and not p.name.startswith((".", "_"))
    }

    assert top_level - {"bin"} <= set(RUNTIME_PACKAGES)
    assert {"boto3", "botocore"} <= top_level

"""The host build's OCR engine: which layers get it, and that its requirements are the ocr extra's."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from docpipe.exceptions import ConfigError
from docpipe_cli.local.build import ocr_layers
from tests.conftest import ROOT


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower() for line in requirements}


def test_only_ingest_functions_docpipe_layer_gets_the_ocr_engine() -> None:
    assert ocr_layers(ROOT / "template.yaml") == ["DocpipeLayer"]


def test_a_template_whose_ingest_function_has_no_makefile_layer_is_refused(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  ModelLayer:\n"
        "    Type: AWS::Serverless::LayerVersion\n"
        "    Properties: {ContentUri: layers/model}\n"
        "    Metadata: {BuildMethod: python3.13}\n"
        "  IngestFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Layers: [!Ref ModelLayer]\n"
    )

    with pytest.raises(ConfigError, match="IngestFunction has no docpipe layer"):
        ocr_layers(template)


def test_the_layers_ocr_requirements_are_the_ocr_extra() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = pyproject["project"]["optional-dependencies"]["ocr"]
    lines = (ROOT / "layers" / "docpipe" / "requirements-ocr.txt").read_text(encoding="utf-8").splitlines()

    assert _names([line for line in lines if line.strip() and not line.startswith("#")]) == _names(extra)


def test_the_deployable_build_commands_never_set_the_ocr_variable() -> None:
    # `make build` / `make size-check` unexport it; samconfig.toml's build sections must not set it
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")

    assert re.search(r"^unexport .*\bDOCPIPE_OCR_LAYERS\b", makefile, re.M)
    assert "DOCPIPE_OCR_LAYERS" not in (ROOT / "samconfig.toml").read_text(encoding="utf-8")

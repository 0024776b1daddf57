"""scripts/check_build_size.py on small fake `sam build` outputs: sums, layers, budget, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts.check_build_size import MIB, BuildOutputError, main, measure

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_build_size.py"

BUILT_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  EmbeddingProvider:
    Type: String
    Default: bedrock
Conditions:
  UseOffline: !Equals [!Ref EmbeddingProvider, offline]
Globals:
  Function:
    Layers:
      - !Ref DocpipeLayer
Resources:
  IngestFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: IngestFunction
      Layers:
        - !If [UseOffline, !Ref OfflineEmbeddingsLayer, !Ref AWS::NoValue]
        - arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:7
  BackupFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: BackupFunction
  DocpipeLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: DocpipeLayer
  OfflineEmbeddingsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: OfflineEmbeddingsLayer
  DocumentsBucket:
    Type: AWS::S3::Bucket
"""


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)  # sparse: the byte count is what matters, not disk use


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    """A fake `.aws-sam/build` with two functions and two layers of known sizes."""
    build = tmp_path / "build"
    _write(build / "IngestFunction" / "app.py", 1 * MIB)
    _write(build / "BackupFunction" / "app.py", 2 * MIB)
    _write(build / "DocpipeLayer" / "python" / "docpipe" / "__init__.py", 10 * MIB)
    _write(build / "DocpipeLayer" / "python" / "pypdfium2" / "lib.so", 5 * MIB)
    _write(build / "OfflineEmbeddingsLayer" / "python" / "wordllama" / "weights.bin", 30 * MIB)
    (build / "template.yaml").write_text(BUILT_TEMPLATE, encoding="utf-8")
    return build


def test_a_function_counts_its_code_and_global_layers_and_not_a_layer_its_condition_leaves_out(
    build_dir: Path,
) -> None:
    # Given a built template whose IngestFunction gets a global layer and an Fn::If layer that the
    # default EmbeddingProvider (bedrock) leaves out
    # When it is measured with the template's defaults
    sizes = {fn.logical_id: fn for fn in measure(build_dir)}

    # Then the configured total has the global layer only, the worst case has both
    ingest = sizes["IngestFunction"]
    assert ingest.code_size == 1 * MIB
    assert [layer.logical_id for layer in ingest.layers] == ["DocpipeLayer"]
    assert ingest.total == (1 + 15) * MIB
    assert ingest.worst_total == (1 + 15 + 30) * MIB
    assert sizes["BackupFunction"].total == (2 + 15) * MIB


def test_a_parameter_value_switches_the_conditional_layer_on(build_dir: Path) -> None:
    # Given the same build / When measured for EmbeddingProvider=offline
    sizes = {fn.logical_id: fn for fn in measure(build_dir, {"EmbeddingProvider": "offline"})}

    # Then the offline embeddings layer counts
    ingest = sizes["IngestFunction"]
    assert {layer.logical_id for layer in ingest.layers} == {"DocpipeLayer", "OfflineEmbeddingsLayer"}
    assert ingest.total == (1 + 15 + 30) * MIB


def test_a_layer_given_as_an_arn_is_reported_as_unmeasured(build_dir: Path) -> None:
    # Given a function with a public layer ARN that sam build does not build
    # When it is measured
    ingest = next(fn for fn in measure(build_dir) if fn.logical_id == "IngestFunction")

    # Then the ARN is listed as unmeasured instead of being counted as zero silently
    assert len(ingest.unmeasured_layers) == 1
    assert "AWSLambdaPowertoolsPythonV3" in ingest.unmeasured_layers[0]


def test_a_build_within_budget_passes_and_prints_each_function(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a build whose largest function is 46 MiB with every layer attached
    # When the check runs for the offline configuration with a 50 MiB budget
    code = main(
        ["--build-dir", str(build_dir), "--budget-mb", "50", "--parameter", "EmbeddingProvider=offline"]
    )

    # Then it passes and the table names both functions with their totals
    out = capsys.readouterr().out
    assert code == 0
    assert "| IngestFunction | 1.0 |" in out
    assert "| 46.0 | 46.0 | ok |" in out
    assert "BackupFunction" in out


def test_a_function_over_budget_fails_and_names_the_function(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the same build
    # When the budget is 20 MiB and the offline layer is on (the ingest function is then 46 MiB)
    code = main(
        ["--build-dir", str(build_dir), "--budget-mb", "20", "--parameter", "EmbeddingProvider=offline"]
    )

    # Then the check fails, naming the ingest function and not the 17 MiB backup function
    captured = capsys.readouterr()
    assert code == 1
    assert "IngestFunction is 46.0 MiB" in captured.err
    assert "BackupFunction is" not in captured.err


def test_the_table_is_appended_to_the_job_summary_file(build_dir: Path, tmp_path: Path) -> None:
    # Given a GitHub job summary file that already has content
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")

    # When the check runs with --summary
    main(["--build-dir", str(build_dir), "--summary", str(summary)])

    # Then the table is appended after the earlier content
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")
    assert "### Lambda package sizes" in text
    assert "| IngestFunction |" in text


def test_a_configuration_over_lambdas_hard_limit_fails_even_when_the_default_fits(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an offline embeddings layer so big that, attached, the function passes 250 MiB
    _write(build_dir / "OfflineEmbeddingsLayer" / "python" / "wordllama" / "weights.bin", 240 * MIB)

    # When the check runs for the default (bedrock) configuration, which is 16 MiB
    code = main(["--build-dir", str(build_dir)])

    # Then it fails: that layer can be switched on by a parameter, and then the deploy would fail
    assert code == 1
    assert "IngestFunction would be 256.0 MiB with every conditional layer" in capsys.readouterr().err


def test_a_parameter_without_a_value_is_refused(build_dir: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--build-dir", str(build_dir), "--parameter", "EmbeddingProvider"])
    assert exc.value.code == 2


def test_a_missing_build_exits_2_and_says_to_build_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given no build output
    # When the check runs
    code = main(["--build-dir", str(tmp_path / "nothing")])

    # Then it exits 2 (not 0: a missing build must not pass a size check) with the fix in the message
    assert code == 2
    assert "make build" in capsys.readouterr().err


def test_a_function_whose_built_folder_is_missing_is_an_error(build_dir: Path) -> None:
    # Given a built template that points at a folder sam build did not write
    (build_dir / "BackupFunction" / "app.py").unlink()
    (build_dir / "BackupFunction").rmdir()

    # When it is measured / Then the error names the function and the folder
    with pytest.raises(BuildOutputError, match=r"BackupFunction: built folder .*BackupFunction"):
        measure(build_dir)


def test_a_budget_above_the_lambda_limit_is_refused(build_dir: Path) -> None:
    # Given a budget above Lambda's 250 MiB unzipped limit
    # When the check runs / Then argparse refuses it (exit 2), since such a budget checks nothing
    with pytest.raises(SystemExit) as exc:
        main(["--build-dir", str(build_dir), "--budget-mb", "300"])
    assert exc.value.code == 2


def test_the_script_runs_as_a_command_with_the_budget_from_the_environment(build_dir: Path) -> None:
    # Given SIZE_BUDGET_MB set the way `make size-check SIZE_BUDGET_MB=...` sets it
    env = {"SIZE_BUDGET_MB": "10", "PATH": "/usr/bin:/bin"}  # the default config: 16 and 17 MiB

    # When the script runs as make runs it
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--build-dir", str(build_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )

    # Then the 10 MiB budget applies: both functions are over it
    assert result.returncode == 1, result.stderr
    assert "IngestFunction is" in result.stderr
    assert "BackupFunction is" in result.stderr

"""The size budget on the real `sam build` output (the template helpers' deploy_build fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.check_build_size import DEFAULT_BUDGET_MIB, LAMBDA_UNZIPPED_LIMIT_MIB, MIB, main, measure

pytestmark = pytest.mark.build


def test_every_function_with_its_layers_fits_the_size_budget(
    deploy_build: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the deployable build of template.yaml
    # When the size check runs on it with the default budget, as `make size-check` does
    code = main(["--build-dir", str(deploy_build), "--budget-mb", str(DEFAULT_BUDGET_MIB)])

    # Then every function plus its layers is within budget (the table says by how much)
    out = capsys.readouterr()
    assert code == 0, f"{out.out}\n{out.err}"


def test_the_check_measures_every_function_and_the_docpipe_layer(deploy_build: Path) -> None:
    # Given the deployable build / When it is measured
    sizes = {fn.logical_id: fn for fn in measure(deploy_build)}

    # Then every function is there, each with a built layer holding the docpipe package
    assert {"IngestFunction", "BackupFunction", "SearchFunction"} <= set(sizes)
    for fn in sizes.values():
        assert fn.layers, f"{fn.logical_id} has no built layer"
        assert any((layer.path / "python" / "docpipe").is_dir() for layer in fn.layers), fn.logical_id
        assert 0 < fn.total < LAMBDA_UNZIPPED_LIMIT_MIB * MIB

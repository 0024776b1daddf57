"""A ``sam build`` of the template for this machine's architecture, in its own build folder.

Wheels built for arm64 do not load on x86_64 (and the other way round), so local runs use a copy
of ``template.yaml`` with every ``Architectures`` rewritten to the host's, built into
``.aws-sam/build-host``; the deployable ``.aws-sam/build`` keeps the declared architectures.

The host build also gives IngestFunction the offline OCR engine (the local stack runs
``OcrProvider=rapidocr``): its docpipe layer is built with ``layers/docpipe/requirements-ocr.txt``
as well, through ``DOCPIPE_OCR_LAYERS``. The deployable build never sets that variable, so the
engine (~320 MB, past Lambda's 250 MiB unzipped limit) stays out of what ``sam deploy`` ships.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from docpipe.exceptions import ConfigError

HOST_TEMPLATE = Path(".aws-sam") / "template-host.yaml"
HOST_BUILD_DIR = Path(".aws-sam") / "build-host"
RUNTIME_DEPS_DIR = Path(".aws-sam") / "runtime-deps"
# What the managed python3.13 runtime ships besides the standard library (boto3 and its deps).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six")
_STAMP = ".docpipe-build-stamp"
# The function that runs OCR: its makefile-built (docpipe) layers get the ocr requirements.
OCR_FUNCTION = "IngestFunction"
_ARCH_LINE = re.compile(r"^(\s*-\s*)(x86_64|arm64)(\s*(#.*)?)$")


@contextlib.contextmanager
def _locked(root: Path, name: str) -> Iterator[None]:
    """One writer per build folder across processes (``docpipe local up`` beside a test run)."""
    folder = root / ".aws-sam"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def host_architecture() -> str:
    """Lambda's name for this machine's architecture."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x86_64"
    if machine in ("arm64", "aarch64"):
        return "arm64"
    raise ConfigError(f"no Lambda architecture matches this machine ({machine})")


def rewrite_architectures(text: str, architecture: str) -> str:
    """Rewrite every ``Architectures`` list item (block or flow style) to ``architecture``."""
    # Covers Architectures and layers' CompatibleArchitectures; BuildArchitecture drives the wheels.
    text = re.sub(r"(Architectures:\s*\[)\s*(x86_64|arm64)\s*(\])", rf"\g<1>{architecture}\g<3>", text)
    text = re.sub(r"(BuildArchitecture:\s*)(x86_64|arm64)\b", rf"\g<1>{architecture}", text)
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    in_list = False
    for line in lines:
        stripped = line.strip()
        if re.match(r"^\s*Architectures:\s*(#.*)?$", line):
            in_list = True
            out.append(line)
            continue
        if in_list:
            match = _ARCH_LINE.match(line.rstrip("\n"))
            if match:
                newline = "\n" if line.endswith("\n") else ""
                out.append(f"{match.group(1)}{architecture}{match.group(3)}{newline}")
                continue
            if stripped and not stripped.startswith("#"):
                in_list = False
        out.append(line)
    return "".join(out)


def find_python313() -> str:
    """The runtime's interpreter, found the way the Makefile finds it."""
    explicit = os.environ.get("PYTHON313")
    candidates = [explicit] if explicit else []
    for base in (Path.home(), Path("/root")):
        found_here = (base / ".pyenv" / "versions").glob("3.13.*/bin/python3.13")
        candidates += sorted((str(p) for p in found_here), reverse=True)
    found = shutil.which("python3.13")
    if found:
        candidates.append(found)
    if sys.version_info[:2] == (3, 13):
        candidates.append(sys.executable)
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigError(
        "Python 3.13 (the Lambda runtime) was not found: install it (pyenv install 3.13) or set PYTHON313"
    )


def ocr_layers(template: Path, function: str = OCR_FUNCTION) -> list[str]:
    """The layers of ``function`` that layers/docpipe/Makefile builds (``BuildMethod: makefile``).

    Those are the ones ``DOCPIPE_OCR_LAYERS`` names, so the OCR engine lands beside the docpipe
    package of the function that OCRs (functions sharing that layer see it too, unused), and in no
    other layer: not the arm64 one of BackupFunction and ReconcileFunction, not the optional
    offline-embeddings layer, which sam builds with pip.
    """
    from docpipe_cli.template import load_template

    resources = load_template(template).get("Resources", {})
    props = resources.get(function, {}).get("Properties", {})
    if not props:
        raise ConfigError(f"{template}: no {function} to give the OCR engine to")
    found: list[str] = []
    for entry in props.get("Layers", []) or []:
        ref = entry.get("Ref") if isinstance(entry, dict) else None
        layer = resources.get(str(ref), {})
        if layer.get("Metadata", {}).get("BuildMethod") == "makefile":
            found.append(str(ref))
    if not found:
        raise ConfigError(f"{template}: {function} has no docpipe layer (BuildMethod: makefile)")
    return found


def sources_digest(root: Path, template: Path) -> str:
    """A digest of everything a build reads, so an unchanged tree is not rebuilt."""
    digest = hashlib.sha256(template.read_bytes())
    digest.update(f"ocr:{OCR_FUNCTION}".encode())
    for folder in ("functions", "layers"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def sam_executable() -> str:
    beside = Path(sys.executable).with_name("sam")
    if beside.is_file():
        return str(beside)
    found = shutil.which("sam")
    if not found:
        raise ConfigError("the AWS SAM CLI (sam) was not found: run `make setup`")
    return found


def build_for_host(
    root: Path,
    *,
    template: Path | None = None,
    build_dir: Path | None = None,
    architecture: str | None = None,
    force: bool = False,
    log: bool = True,
) -> Path:
    """``sam build`` the template with architectures set to the host's; returns the built template.

    Skips the build when the sources have not changed since the last one (a stamp file records
    their digest), so repeated ``docpipe`` commands and tests stay fast.
    """
    root = root.resolve()
    with _locked(root, ".build-host.lock"):
        return _build_for_host(root, template, build_dir, architecture, force, log)


def _build_for_host(
    root: Path,
    template: Path | None,
    build_dir: Path | None,
    architecture: str | None,
    force: bool,
    log: bool,
) -> Path:
    source = template or root / "template.yaml"
    if not source.is_file():
        raise ConfigError(f"template not found: {source}")
    arch = architecture or host_architecture()
    host_template = root / HOST_TEMPLATE
    out_dir = build_dir or root / HOST_BUILD_DIR
    host_template.parent.mkdir(parents=True, exist_ok=True)
    host_template.write_text(
        rewrite_architectures(source.read_text(encoding="utf-8"), arch), encoding="utf-8"
    )
    stamp = out_dir / _STAMP
    digest = sources_digest(root, host_template)
    built = out_dir / "template.yaml"
    if not force and built.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return built
    python = find_python313()
    with_ocr = ocr_layers(host_template)
    # The docpipe layers build with layers/docpipe/Makefile, which sam gives no architecture:
    # BuildArchitecture's rewrite reaches it through this variable, and the OCR engine's layers
    # through the other.
    env = dict(
        os.environ,
        SAM_CLI_TELEMETRY="0",
        DOCPIPE_LAYER_ARCHITECTURE=arch,
        DOCPIPE_OCR_LAYERS=" ".join(with_ocr),
    )
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    # sam resolves CodeUri relative to the template: build the copy from the repository root.
    command = [
        sam_executable(),
        "build",
        "--template-file",
        str(host_template),
        "--build-dir",
        str(out_dir),
        "--base-dir",
        str(root),
        "--cached",
        "--parallel",
        "--cache-dir",
        # sam's cache key is a layer's source, not the variables above: a cache per OCR layer set
        # keeps a layer cached without the engine from standing in for one that needs it.
        str(root / ".aws-sam" / "-".join(["cache-host", "ocr", *with_ocr])),
    ]
    # sam keeps dependency folders in <cwd>/.aws-sam/deps: a cwd of its own keeps this build from
    # colliding with a concurrent deployable build (same repository, other process).
    workdir = root / ".aws-sam" / "host-work"
    workdir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=not log, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout or "")[-2000:] if not log else ""
        raise ConfigError(f"sam build for {arch} failed (exit {result.returncode}) {tail}".strip())
    stamp.write_text(digest)
    return built


def ensure_runtime_deps(root: Path, *, target: Path | None = None) -> Path:
    """Install what the Lambda runtime ships (boto3 and friends) once, with the runtime's pip."""
    out = target or root.resolve() / RUNTIME_DEPS_DIR
    marker = out / ".installed"
    if marker.is_file():
        return out
    with _locked(root.resolve(), ".runtime-deps.lock"):
        if marker.is_file():  # another process installed them while this one waited
            return out
        _pip_install_runtime(out)
        marker.write_text(" ".join(RUNTIME_PACKAGES))
    return out


def _pip_install_runtime(out: Path) -> None:
    python = find_python313()
    command = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(out)]
    result = subprocess.run([*command, *RUNTIME_PACKAGES], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"installing the runtime's boto3 into {out} failed: {result.stderr[-1000:]}")

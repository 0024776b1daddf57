"""moto server on a free loopback port, optionally persisting its state to a directory.

moto keeps state in memory only; its one persistence mechanism is the request *recorder*
(``/moto-api/recorder/*``): every request is appended to a JSON-lines file, and replaying the file
against a fresh server rebuilds the state. ``LocalServer(state_dir=...)`` uses it: on start it
replays ``<state_dir>/moto-recording.jsonl`` (if any) and then keeps recording. Replay re-runs
S3 puts, so their notifications land on the queue again; the registry makes that re-delivery a
no-op (same content hash), at the cost of one download per document.

Every moto this project starts has the emulator boundary installed (``install_emulators``): S3's
notifications as S3 sends them and the whole S3 Vectors API. ``python -m docpipe_cli.local.server``
is ``moto_server`` with both (the LocalStack path's S3 Vectors sidecar runs it).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RECORDING_FILE = "moto-recording.jsonl"
LOOPBACK = "127.0.0.1"


def install_emulators() -> None:
    """Patch moto in this process where it differs from AWS (idempotent; before a server serves)."""
    from docpipe_cli.local import s3_events, s3vectors

    s3_events.install()  # S3's own notifications (delete markers, version ids, sequencers)
    s3vectors.install()  # QueryVectors, index modes, full-text and hybrid search


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """One moto ThreadedMotoServer in this process; ``endpoint`` is what boto3 clients point at.

    moto keeps its state in process-wide backends, so run one server per process at a time.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        state_dir: Path | None = None,
        host: str = LOOPBACK,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.verbose = verbose
        self.port = port or free_port(host)
        self.state_dir = state_dir
        self._server: Any = None
        self.replayed_requests = 0

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def recording(self) -> Path | None:
        return self.state_dir / RECORDING_FILE if self.state_dir else None

    def start(self) -> LocalServer:
        """Start serving; replay and resume recording when a state directory is set."""
        if self.recording is not None:
            self.recording.parent.mkdir(parents=True, exist_ok=True)
            # The recorder reads its path from the environment when moto.moto_api is imported.
            os.environ["MOTO_RECORDER_FILEPATH"] = str(self.recording)
        from moto.moto_api import recorder
        from moto.server import ThreadedMotoServer

        install_emulators()

        if self.recording is not None:
            recorder._location = str(self.recording)  # already imported by an earlier server in this process
        if not self.verbose:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        self._wait_ready()
        # moto's backends are process-wide: a second server in this process would otherwise start
        # with the first one's resources (tests, benchmarks). A server starts empty, or replayed.
        self.reset()
        if self.recording is not None:
            if self.recording.exists() and self.recording.stat().st_size:
                self.replayed_requests = sum(1 for _ in self.recording.open(encoding="utf-8"))
                recorder.replay_recording(target_host=self.endpoint)
            recorder.start_recording()
        return self

    def stop(self) -> None:
        """Stop serving (the recording file, if any, stays for the next start)."""
        if self._server is None:
            return
        if self.recording is not None:
            from moto.moto_api import recorder

            recorder.stop_recording()
        self._server.stop()
        self._server = None

    def reset(self) -> None:
        """Forget every resource (moto's own reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``moto_server`` (same arguments) with the emulator boundary installed."""
    from moto.server import main as moto_main

    install_emulators()
    moto_main(list(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

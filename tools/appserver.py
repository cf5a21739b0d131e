"""The whole app as a child process (`manage.py serve`), for browser tests and the live-update
benchmark: its own database and files, the cluster of `lab_dir` (started by it if none runs
there), DEBUG off so static files go through WhiteNoise as in production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from playground.lab.launcher import PROJECT_ROOT
from playground.lab.node import orphan_proof

READY_TIMEOUT_SECONDS = 180.0
# serve stops its runner first, which stops its running experiments and waits for their audits.
STOP_TIMEOUT_SECONDS = 180.0


class AppServer:
    def __init__(
        self,
        *,
        port: int,
        var_dir: Path,
        lab_dir: Path,
        lab_port_base: int,
        extra_env: dict[str, str] | None = None,
        serve_options: tuple[str, ...] = (),
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.var_dir = Path(var_dir)
        self.env = os.environ | {
            "PLAYGROUND_VAR_DIR": str(self.var_dir),
            "KAFKA_LAB_DIR": str(lab_dir),
            "KAFKA_LAB_PORT_BASE": str(lab_port_base),
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "app-server-for-tests-and-benchmarks",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("DATABASE_URL", None)
        self.env.pop("REDIS_URL", None)
        self.env |= extra_env or {}
        self.serve_options = serve_options  # e.g. ("--no-runner",)
        self.process: subprocess.Popen | None = None
        self.log_path = self.var_dir / "serve.log"

    def _manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> AppServer:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self._manage("migrate", "--noinput", "-v0")
        self._manage("collectstatic", "--noinput", "-v0")
        serve = ["manage.py", "serve", "--port", str(self.port), *self.serve_options]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                orphan_proof([sys.executable, *serve]),
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/lab/cluster", timeout=2) as response:
                    if b"ready" in response.read():
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the app was not ready within {READY_TIMEOUT_SECONDS} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

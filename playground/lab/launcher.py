"""Starting and stopping a lab process from Python (the app, the CLI and the tests use this)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from playground.lab.control import LabClient, LabError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class LabProcess:
    """A lab process this process started. Tied labs die with their parent, however it dies."""

    def __init__(self, process: subprocess.Popen, client: LabClient, lifeline: int | None):
        self.process = process
        self.client = client
        self._lifeline = lifeline  # the write end of the pipe the lab watches

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the lab down cleanly; SIGKILL it if it does not exit within `timeout`."""
        if self.process.poll() is None:
            try:
                self.client.shutdown()
            except LabError:
                self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None


def launch(lab_dir: Path, port_base: int, *, tied_to_parent: bool = True) -> LabProcess:
    """Start a lab process for `lab_dir` and return at once (use `client.wait_ready`).

    Tied (the default): the lab watches a pipe whose write end only this process holds, and exits
    when it closes, so no JVM or proxy outlives this process. Untied: it runs in its own session
    until told to shut down (`manage.py cluster up`).
    """
    lab_dir = Path(lab_dir)
    client = LabClient(lab_dir)
    if client.is_running():
        raise LabError(f"a lab is already running in {lab_dir}")
    lab_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "playground.lab.daemon",
        "--dir", str(lab_dir), "--port-base", str(port_base),
    ]  # fmt: skip
    read_end = write_end = None
    if tied_to_parent:
        read_end, write_end = os.pipe()  # both ends are non-inheritable by default
        command += ["--lifeline-fd", str(read_end)]
    with open(lab_dir / "lab.log", "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(read_end,) if tied_to_parent else (),
            start_new_session=not tied_to_parent,
        )
    if read_end is not None:
        os.close(read_end)
    return LabProcess(process, client, write_end)

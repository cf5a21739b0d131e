"""The Kafka broker's classpath: jars fetched from Maven Central by the Maven project in kafka/.

The folder is cached outside git (KAFKA_JARS_DIR, default ~/.cache/kafka-playground/jars-<pom hash>)
and filled by `mvn dependency:copy-dependencies` the first time it is needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

POM = Path(__file__).resolve().parents[2] / "kafka" / "pom.xml"
READY_MARKER = ".complete"


class JarsUnavailable(RuntimeError):
    """Maven could not produce the broker classpath."""


def jars_dir(pom: Path = POM) -> Path:
    """Where the jars of `pom` live (may not exist yet); the broker's by default."""
    configured = os.environ.get("KAFKA_JARS_DIR")
    if configured and pom == POM:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    prefix = "jars" if pom == POM else pom.parent.name
    return cache / "kafka-playground" / f"{prefix}-{digest}"


def ensure_jars(pom: Path = POM) -> Path:
    """Return the classpath folder of `pom` (the broker's by default), running Maven to fill it
    if it is not complete yet."""
    target = jars_dir(pom)
    if (target / READY_MARKER).exists() or (pom == POM and _is_prebuilt(target)):
        return target
    target.mkdir(parents=True, exist_ok=True)
    command = [
        "mvn", "-q", "-B", "-f", str(pom),
        "dependency:copy-dependencies", f"-DoutputDirectory={target}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise JarsUnavailable(
            f"mvn failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    (target / READY_MARKER).touch()
    return target


def _is_prebuilt(target: Path) -> bool:
    """A folder filled elsewhere (the Docker image) counts when it holds the broker jar."""
    return "KAFKA_JARS_DIR" in os.environ and any(target.glob("kafka_2.13-*.jar"))

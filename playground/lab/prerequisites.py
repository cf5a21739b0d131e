"""Checks what the lab needs from the machine and fetches the broker jars: `make setup` runs this.

`python -m playground.lab.prerequisites` exits non-zero with a message naming what is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from playground.lab import jars

MINIMUM_JAVA = 17


def problems() -> list[str]:
    """What is missing or too old, in words a newcomer can act on."""
    found = []
    if shutil.which("java") is None:
        found.append(f"java not found: install a Java {MINIMUM_JAVA}+ runtime (e.g. openjdk-17)")
    else:
        version = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, check=False
        ).stderr
        match = re.search(r'version "(\d+)', version)
        if match is None or int(match.group(1)) < MINIMUM_JAVA:
            found.append(f"Kafka 4 needs Java {MINIMUM_JAVA}+, found: {version.splitlines()[:1]}")
    if shutil.which("setpriv") is None:
        found.append("setpriv not found: install util-linux (it ties the brokers to the app)")
    if shutil.which("mvn") is None and not (jars.jars_dir() / jars.READY_MARKER).exists():
        found.append("mvn not found: install Maven (it fetches Kafka from Maven Central)")
    return found


def main() -> None:
    missing = problems()
    if missing:
        sys.exit("Missing prerequisites:\n  - " + "\n  - ".join(missing))
    print(f"Kafka broker jars: {jars.ensure_jars()}")


if __name__ == "__main__":
    main()

"""The key Django signs sessions with: DJANGO_SECRET_KEY, or one generated once and kept in var/.

There is no constant fallback: a key anyone can read in the source would let anyone forge a
session. The generated key is written owner-only (0600) and appears in one atomic step (a hard
link of a complete temporary file), so a reader never sees half a key, and two processes that start
at the same moment agree: the first link wins and the other reads the winner's key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

ENVIRONMENT_VARIABLE = "DJANGO_SECRET_KEY"
KEY_FILE_NAME = "secret-key"
OWNER_ONLY = 0o600
# What Django's `check --deploy` (security.W009) calls a strong key.
STRONG_MIN_LENGTH = 50
STRONG_MIN_UNIQUE_CHARACTERS = 5
INSECURE_PREFIX = "django-insecure-"


def secret_key(var_dir: Path) -> str:
    """The key from the environment if set (and not blank), else the one kept in `var_dir`."""
    from_environment = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if from_environment:
        return from_environment
    return kept_key(var_dir / KEY_FILE_NAME)


def kept_key(path: Path) -> str:
    """The key stored at `path`, generated there first if there is none yet."""
    if not path.exists():
        _generate(path)
    if path.stat().st_mode & 0o077:
        path.chmod(OWNER_ONLY)  # a copied or restored file: make it owner-only again
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(
            f"{path} is empty: delete it to generate a new key, or set {ENVIRONMENT_VARIABLE}."
        )
    return key


def is_strong(key: str) -> bool:
    """Whether `key` is long and random enough to sign sessions on a public server."""
    return (
        len(key) >= STRONG_MIN_LENGTH
        and len(set(key)) >= STRONG_MIN_UNIQUE_CHARACTERS
        and not key.startswith(INSECURE_PREFIX)
    )


def _generate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
        try:
            os.write(descriptor, f"{secrets.token_urlsafe(STRONG_MIN_LENGTH)}\n".encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.link(draft, path)  # fails if another process linked its key first: theirs is kept
    except FileExistsError:
        pass
    except OSError as error:
        raise ImproperlyConfigured(
            f"Cannot keep a generated secret key in {path} ({error.strerror}): "
            f"set {ENVIRONMENT_VARIABLE}, or make {path.parent} writable."
        ) from error
    finally:
        draft.unlink(missing_ok=True)

"""Atomic file writes: results, checkpoints and claims are never seen half-written.

Every writer writes to a temporary file of its own (named after its process and a random token,
so two processes writing the same result never share one) in the target's folder, then renames
it over the target, which POSIX makes atomic. A reader sees the old file or the new one. Every
file gets the mode a plain `open` gives (0644 under the usual umask), whatever the writer used
(safetensors writes 0600), so a shared run cache stays readable by the group.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Callable


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` to fill a unique temporary file next to `path`, then rename it to `path`.
    The temporary name keeps the target's suffix (numpy's `savez` adds ".npz" otherwise)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")


def umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask

"""Atomic file writes: a reader (or a run killed mid-write) sees the old file or the new one,
never half of one. Every file that convae_tf writes for a user goes through `atomic_path`."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a hidden temporary path beside `path` (same suffix, so writers that infer the
    format from it work); renames it over `path` when the block ends without error, and
    removes it otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_json(data: dict[str, Any], path: str | os.PathLike) -> None:
    """Sorted, indented JSON; tuples and other iterables are written as lists."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=list) + "\n")

"""Benchmarks: scripts that print figures and record them in bench/results/ (not timed tests)."""

from __future__ import annotations

from pathlib import Path


def publish(lines: list[str], out: Path, ok: bool) -> int:
    """Print the figures, record them in ``out``, and turn the verdict into an exit code."""
    text = "\n".join(lines)
    print(text)
    out.write_text(text + "\n")
    return 0 if ok else 1

"""scripts/find_python.sh, which the Makefile uses to turn PY=python3.13 into an interpreter that runs."""

from __future__ import annotations

import shutil
import subprocess
import sys

import infra_lib
import pytest

SCRIPT = infra_lib.REPO / "scripts" / "find_python.sh"
THIS = f"{sys.version_info.major}.{sys.version_info.minor}"


def find(name: str) -> subprocess.CompletedProcess[str]:
    sh = shutil.which("sh")
    if sh is None:
        pytest.fail("no POSIX sh on PATH: the Makefile needs one")
    return subprocess.run([sh, str(SCRIPT), name], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", [f"python{THIS}", THIS, sys.executable])
def test_resolves_the_running_python(name: str) -> None:
    proc = find(name)
    assert proc.returncode == 0, proc.stderr
    path = proc.stdout.strip()
    version = subprocess.run(
        [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, timeout=60
    )
    assert version.stdout.strip() == THIS, f"{name} -> {path} runs Python {version.stdout.strip()}"


def test_unknown_version_fails_with_a_way_out() -> None:
    proc = find("python3.99")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "make test PY=/path/to/python3.99" in proc.stderr


def test_not_a_python_name_fails() -> None:
    proc = find("definitely-not-python")
    assert proc.returncode == 1 and "python3.N" in proc.stderr

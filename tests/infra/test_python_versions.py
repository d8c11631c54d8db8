"""One list of supported Pythons (3.11, 3.12, 3.13), kept the same everywhere it is written down.

pyproject's requires-python, the Bicep's pythonVersion parameter (allowed values and default), the
requirements' environment markers (azure-functions 1.x below 3.13, 2.x from 3.13: 1.26.0 declares
Requires-Python <3.13, so an unmarked "<2" would quietly resolve to 1.25.0 on 3.13), ruff's and mypy's
target (the oldest), and CI (.ci/run tests the oldest and the newest).
"""

from __future__ import annotations

import json
import re
import tomllib

import infra_lib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

SUPPORTED = ["3.11", "3.12", "3.13"]
PYPROJECT = tomllib.loads((infra_lib.REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _allowed(param: dict[str, object]) -> list[str]:
    for d in param.get("decorators") or []:  # type: ignore[attr-defined]
        if d.get("type") == "allowed":
            return [infra_lib.unquote(v) for v in d["argument"]]
    raise AssertionError("pythonVersion has no @allowed list")


def requirements() -> list[Requirement]:
    out = []
    for line in (infra_lib.REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(Requirement(line))
    return out


def test_requires_python_admits_exactly_the_supported_versions() -> None:
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    for minor in ["3.10", *SUPPORTED, "3.14"]:
        admitted = Version(f"{minor}.0") in spec
        assert admitted == (minor in SUPPORTED), f"requires-python {spec} and Python {minor}"


def test_bicep_python_version_parameter() -> None:
    main = infra_lib.parse_bicep(infra_lib.INFRA / "main.bicep")["parameters"]["pythonVersion"]
    module = infra_lib.parse_bicep(infra_lib.INFRA / "modules" / "functionapp.bicep")["parameters"]["pythonVersion"]
    assert _allowed(main) == SUPPORTED and _allowed(module) == SUPPORTED
    # Default: the newest Python Flex Consumption offers (3.13; see the README's Deploy section for the source).
    assert main["default"] == SUPPORTED[-1]
    params = json.loads((infra_lib.INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert params["pythonVersion"]["value"] == f"${{PYTHON_VERSION={SUPPORTED[-1]}}}"


def test_azure_functions_line_per_python() -> None:
    lines = [r for r in requirements() if r.name == "azure-functions"]
    assert len(lines) == 2 and all(r.marker for r in lines), "azure-functions needs one marked line per major"
    for minor in SUPPORTED:
        env = {"python_version": minor, "python_full_version": f"{minor}.0"}
        chosen = [r for r in lines if r.marker and r.marker.evaluate(env)]
        assert len(chosen) == 1, f"Python {minor}: {len(chosen)} azure-functions lines apply"
        spec = chosen[0].specifier
        if minor < "3.13":
            assert Version("1.26.0") in spec and Version("2.0.0") not in spec, f"{minor}: {spec}"
        else:
            # 2.x has the same v2 programming model and is the line that declares Python >= 3.13.
            assert Version("2.3.0") in spec and Version("1.25.0") not in spec, f"{minor}: {spec}"
    durable = [r for r in requirements() if r.name == "azure-functions-durable"]
    assert len(durable) == 1 and Version("2.0.0") not in durable[0].specifier, "stay on the 1.x Durable SDK"
    assert Version("1.7.0") in durable[0].specifier


def test_lint_targets_are_the_oldest_supported() -> None:
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + SUPPORTED[0].replace(".", "")
    assert PYPROJECT["tool"]["mypy"]["python_version"] == SUPPORTED[0]


def test_ci_runs_the_oldest_and_the_newest() -> None:
    ci = (infra_lib.REPO / ".ci" / "run").read_text(encoding="utf-8")
    for minor in (SUPPORTED[0], SUPPORTED[-1]):
        assert re.search(rf"python{re.escape(minor)}\b", ci), f".ci/run does not run the suite on Python {minor}"

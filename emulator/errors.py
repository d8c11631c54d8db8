"""ARM error responses: one exception type carrying status, code, message and extra headers.

Handlers raise ``ArmError``; the HTTP layer renders it as ARM's ``{"error": {...}}`` body so every
refusal in the emulator has the same shape as Azure's.
"""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """A refusal that becomes an ARM error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.headers = headers or {}
        self.details = details or []
        self._body = body

    def body(self) -> dict[str, Any]:
        """``{"error": {"code", "message"[, "target"][, "details"]}}``: recorded errors carry no empty details."""
        if self._body is not None:
            return self._body
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_found(kind: str, name: str, resource_group: str) -> ArmError:
    """ARM's gateway 404 for a missing top-level resource (recorded with ``x-ms-failure-cause: gateway``)."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{kind}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        headers={"x-ms-failure-cause": "gateway"},
    )


def entity_not_found() -> ArmError:
    """Compute's answer for a restore point that does not exist (or no longer does) in an existing collection.

    Recorded: azure-sdk-for-net CreateRpcAndRestorePoints.json (2021-12, api-version 2021-11-01), a GET of a
    deleted restore point: 404 ``{"error": {"code": "NotFound", "message": "The entity was not found in this
    Azure location."}}``.
    """
    return ArmError(404, "NotFound", "The entity was not found in this Azure location.")


def parent_not_found(kind: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ParentResourceNotFound",
        f"Can not perform requested operation on nested resource. Parent resource '{name}' ({kind}) "
        f"under resource group '{resource_group}' was not found.",
    )

"""App Service / Azure Functions managed identity endpoint (``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``).

Protocol 2019-08-01: ``GET {IDENTITY_ENDPOINT}?resource=...&api-version=2019-08-01[&client_id=...]`` with
header ``X-IDENTITY-HEADER: {IDENTITY_HEADER}``; plain HTTP on loopback, like App Service's own
endpoint. Tokens are opaque random strings remembered by the emulator: the ARM side accepts only
tokens it issued, so a client that skips authentication fails here as it would in Azure.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

TOKEN_LIFETIME_SECONDS = 24 * 3600
IDENTITY_API_VERSION = "2019-08-01"


@dataclass
class TokenIssuer:
    secret_header: str
    default_client_id: str = "00000000-0000-0000-0000-00000000c11e"
    tokens: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # token -> (client, resource, exp)
    # Set by the server: the status an identity outage window (faults.identityOutages) answers now, or None.
    outage: Callable[[], int | None] | None = None

    def issue(self, resource: str, client_id: str | None) -> dict[str, str]:
        token = "emu." + secrets.token_urlsafe(32)
        expires_on = time.time() + TOKEN_LIFETIME_SECONDS
        client = client_id or self.default_client_id
        self.tokens[token] = (client, resource, expires_on)
        return {
            "access_token": token,
            "expires_on": str(int(expires_on)),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client,
        }

    def principal(self, token: str) -> str:
        """The client id a (valid) token was issued to: ARM throttles per subscription and principal."""
        return self.tokens[token][0]

    def check(self, token: str) -> str | None:
        """None if the token is valid, else the reason (tokens expire in real time, as azure-identity expects)."""
        entry = self.tokens.get(token)
        if entry is None:
            return "The access token is invalid: it was not issued by this emulator's identity endpoint."
        if entry[2] < time.time():
            return "The access token has expired."
        return None

    async def handle(self, request: web.Request) -> web.Response:
        status = self.outage() if self.outage is not None else None
        if status is not None:
            # The App Service token endpoint's error body shape (as for 400/401 below); no details.
            return web.json_response(
                {"statusCode": status, "message": "An unexpected error occurred while fetching the AAD token."},
                status=status,
            )
        if request.headers.get("X-IDENTITY-HEADER") != self.secret_header:
            return web.json_response(
                {"statusCode": 401, "message": "Unauthorized: missing or wrong X-IDENTITY-HEADER."},
                status=401,
            )
        if request.query.get("api-version") != IDENTITY_API_VERSION:
            return web.json_response(
                {"statusCode": 400, "message": f"api-version must be {IDENTITY_API_VERSION}."}, status=400
            )
        resource = request.query.get("resource")
        if not resource:
            return web.json_response({"statusCode": 400, "message": "resource is required."}, status=400)
        return web.json_response(self.issue(resource, request.query.get("client_id")))


def identity_app(issuer: TokenIssuer) -> web.Application:
    app = web.Application()
    app.router.add_get("/msi/token", issuer.handle)
    return app

"""An Event Grid custom topic's publishing endpoint, for the app's CloudEvents (dev/test only).

As strict as Event Grid where the app relies on it (sources: Learn "CloudEvents v1.0 schema with Azure
Event Grid", "Publish events to Azure Event Grid custom topics using access keys / Microsoft Entra ID",
"Event Grid quotas and limits"):

* ``POST {topic endpoint}`` (``https://<topic>.<region>-1.eventgrid.azure.net/api/events``; here
  ``{emulator}/_eventgrid/<topic>/api/events``), ``Content-Type: application/cloudevents-batch+json;
  charset=utf-8`` with a JSON array, or ``application/cloudevents+json`` with one event;
* Microsoft Entra authentication: ``Authorization: Bearer`` with a token for ``https://eventgrid.azure.net``
  (the identity needs "EventGrid Data Sender"); a token for another audience is refused 401;
* every event carries the required CloudEvents 1.0 attributes ``specversion`` ("1.0"), ``id``, ``source``,
  ``type`` as non-empty strings (else 400); an event is at most 1 MB and a batch at most 1 MB (else 413);
* success is 200 with an empty body.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from emulator.identity import TokenIssuer

AUDIENCE = "https://eventgrid.azure.net"
MAX_BYTES = 1024 * 1024
REQUIRED = ("specversion", "id", "source", "type")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class EventGridTopics:
    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer
        self.received: list[dict[str, Any]] = []  # {"topic", "event"}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_eventgrid/{topic}/api/events", self.publish),
            web.get("/_emulator/eventgrid/events", self.list_events),
        ]

    async def list_events(self, request: web.Request) -> web.Response:
        return web.json_response({"value": self.received})

    async def publish(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        problem = self.issuer.check(token) if token else "no bearer token"
        if problem is None and self.issuer.tokens[token][1].rstrip("/") != AUDIENCE:
            problem = f"the token's audience is {self.issuer.tokens[token][1]}, not {AUDIENCE}"
        if problem is not None:
            return _error(401, "Unauthorized", problem)
        media = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        raw = await request.read()
        if len(raw) > MAX_BYTES:
            return _error(413, "RequestEntityTooLarge", "the batch is larger than 1 MB")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "BadRequest", "the body is not JSON")
        if media == "application/cloudevents-batch+json":
            if not isinstance(body, list):
                return _error(400, "BadRequest", "a batch must be a JSON array")
            events = body
        elif media == "application/cloudevents+json":
            events = [body]
        else:
            return _error(415, "UnsupportedMediaType", f"content type {media!r} is not a CloudEvents type")
        for event in events:
            if not isinstance(event, dict):
                return _error(400, "BadRequest", "an event must be a JSON object")
            for key in REQUIRED:
                if not isinstance(event.get(key), str) or not event[key]:
                    return _error(400, "BadRequest", f"required CloudEvents attribute '{key}' is missing")
            if event["specversion"] != "1.0":
                return _error(400, "BadRequest", "specversion must be '1.0'")
            if len(json.dumps(event).encode()) > MAX_BYTES:
                return _error(413, "RequestEntityTooLarge", "an event is larger than 1 MB")
        topic = request.match_info["topic"]
        self.received += [{"topic": topic, "event": e} for e in events]
        return web.Response(status=200)

"""The ``/_emulator/`` admin API: plain JSON, no auth, for tests, the demo and the durable host.

It is how the outside world does what is not ARM: seed or reset a scenario, create source restore
points as a VM would, move the clock, switch faults and event quirks, and read the event log and
call counts.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiohttp import web

from emulator import progress, render
from emulator.clock import format_time, parse_time
from emulator.errors import ArmError
from emulator.identity import TokenIssuer
from emulator.state import EmulatorState


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": "BadRequest", "message": message}}, status=status)


class AdminApi:
    def __init__(self, state: EmulatorState, issuer: TokenIssuer, initial_scenario: dict[str, Any]) -> None:
        self.state = state
        self.issuer = issuer
        self.initial_scenario = initial_scenario

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_emulator/reset", self.reset),
            web.post("/_emulator/scenario", self.seed),
            web.get("/_emulator/scenario", self.get_scenario),
            web.post("/_emulator/restore-points", self.create_restore_point),
            web.post("/_emulator/delete", self.delete),
            web.get("/_emulator/clock", self.get_clock),
            web.post("/_emulator/clock", self.set_clock),
            web.get("/_emulator/calls", self.get_calls),
            web.get("/_emulator/events", self.get_events),
            web.post("/_emulator/events", self.set_events),
            web.get("/_emulator/faults", self.get_faults),
            web.post("/_emulator/faults", self.set_faults),
            web.post("/_emulator/token", self.token),
            web.get("/_emulator/throttling", self.get_throttling),
            web.post("/_emulator/throttling", self.set_throttling),
            web.get("/_emulator/copies", self.copies),
            web.get("/_emulator/deletes", self.deletes),
        ]

    async def _json(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    async def reset(self, request: web.Request) -> web.Response:
        self.state.load(self.initial_scenario)
        return web.json_response({"reset": True, "now": format_time(self.state.clock.now())})

    async def seed(self, request: web.Request) -> web.Response:
        try:
            scenario = await self._json(request)
            self.state.load(scenario)
        except (ValueError, KeyError, TypeError, ArmError) as exc:
            return _error(400, f"invalid scenario: {exc!r}")
        self.initial_scenario = scenario
        return web.json_response({"seeded": True, "collections": len(self.state.collections)})

    async def get_scenario(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.scenario)

    async def create_restore_point(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            rp = self.state.create_source_restore_point(
                body["collectionId"], body["name"], body.get("timeCreated"), body.get("changedPercent"), body
            )
        except ArmError as err:
            return web.json_response(err.body(), status=err.status)
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"need collectionId and name: {exc!r}")
        return web.json_response(render.restore_point(rp, self.state.clock.now(), instance_view=False), status=201)

    async def delete(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            deleted = self.state.delete_by_id(body["id"], restore_points_only=bool(body.get("restorePointsOnly")))
        except ArmError as err:
            return web.json_response(err.body(), status=err.status)
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"need id: {exc!r}")
        return web.json_response({"deleted": deleted})

    async def get_clock(self, request: web.Request) -> web.Response:
        clock = self.state.clock
        return web.json_response({"now": format_time(clock.now()), "isVirtual": clock.is_virtual})

    async def set_clock(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            if "advanceTo" in body:
                self.state.clock.advance_to(parse_time(body["advanceTo"]))
            elif "advanceSeconds" in body:
                self.state.clock.advance(timedelta(seconds=float(body["advanceSeconds"])))
            else:
                return _error(400, "need advanceTo (ISO time) or advanceSeconds")
        except (ValueError, TypeError) as exc:
            return _error(400, repr(exc))
        self.state.sweep()
        return await self.get_clock(request)

    async def get_calls(self, request: web.Request) -> web.Response:
        return web.json_response(dict(sorted(self.state.calls.items())))

    async def get_events(self, request: web.Request) -> web.Response:
        self.state.sweep()
        sink = self.state.events
        return web.json_response(
            {"value": sink.log, "deliveryErrors": sink.delivery_errors, "config": sink.config.as_dict()}
        )

    async def set_events(self, request: web.Request) -> web.Response:
        try:
            self.state.events.config.update(await self._json(request))
            self.state.events.reseed()
        except (ValueError, TypeError) as exc:
            return _error(400, repr(exc))
        return web.json_response(self.state.events.config.as_dict())

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.faults.config.as_dict())

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            replace = bool(body.pop("replace", False))
            self.state.faults.reconfigure(body, replace=replace)
        except (ValueError, TypeError) as exc:
            return _error(400, repr(exc))
        return web.json_response(self.state.faults.config.as_dict())

    async def get_throttling(self, request: web.Request) -> web.Response:
        """ARM buckets, Compute policies and the hourly limits: configuration and 429 counters."""
        state = self.state
        return web.json_response(
            {
                "arm": state.throttler.as_dict(),
                "compute": state.compute_throttler.as_dict(),
                "hourlyLimits": {
                    "copiesPerHourPerCollection": state.copies_per_hour,
                    "throttled": dict(sorted(state.limit_refusals.items())),
                },
                "faults": {
                    "throttleStorms": state.storm_refusals,
                    "regionOutages": dict(sorted(state.outage_refusals.items())),
                },
            }
        )

    async def set_throttling(self, request: web.Request) -> web.Response:
        """``{"arm"?: {"enabled", "limits"}, "compute"?: {"enabled", "profile", "policies"},
        "copiesPerHourPerCollection"?: n, "reset"?: true}``; reset clears windows, buckets and counters."""
        state = self.state
        try:
            body = await self._json(request)
            unknown = set(body) - {"arm", "compute", "copiesPerHourPerCollection", "reset"}
            if unknown:
                raise ValueError(f"unknown fields: {sorted(unknown)}")
            if body.get("reset"):
                state.throttler.reset()
                state.compute_throttler.reset()
                state.limit_refusals.clear()
                state.storm_refusals = 0
                state.outage_refusals.clear()
            if "arm" in body:
                state.throttler.configure(body["arm"])
            if "compute" in body:
                state.compute_throttler.configure(body["compute"])
            if "copiesPerHourPerCollection" in body:
                state.copies_per_hour = int(body["copiesPerHourPerCollection"])
        except (ValueError, TypeError, KeyError) as exc:
            return _error(400, repr(exc))
        return await self.get_throttling(request)

    async def token(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        return web.json_response(
            self.issuer.issue(body.get("resource", "https://management.azure.com"), body.get("clientId"))
        )

    async def deletes(self, request: web.Request) -> web.Response:
        """Every accepted restore point DELETE, with what its collection held then (id, time, usable)."""
        return web.json_response({"value": list(self.state.delete_log)})

    async def copies(self, request: web.Request) -> web.Response:
        """Every copy with its lane, state and visible progress: for debugging and demos."""
        self.state.sweep()
        now = self.state.clock.now()
        result = []
        for collection in self.state.collections.values():
            for rp in collection.restore_points.values():
                if rp.copy is None:
                    continue
                disks = progress.job_progress(rp.copy, now)
                result.append(
                    {
                        "id": rp.rp_id,
                        "sourceRestorePointId": rp.source_restore_point_id,
                        "lane": list(rp.copy.lane),
                        "fullCopy": rp.copy.full_copy,
                        "provisioningState": rp.provisioning_state,
                        "start": format_time(rp.copy.start),
                        "expectedFinish": format_time(progress.finish_time(rp.copy)),
                        "abortReason": rp.copy.abort_reason,
                        "state": progress.aggregate([d.code for d in disks]),
                        "disks": [{"id": d.disk_restore_point_id, "code": d.code, "percent": d.percent} for d in disks],
                    }
                )
        return web.Response(text=json.dumps({"value": result}), content_type="application/json")

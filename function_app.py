"""The Functions app: registers the blueprints and reports bad settings at load (v2 programming model)."""

import azure.durable_functions as df
import azure.functions as func

from functions import activities, dashboard, events, http_api, protection, startup, sweep, telemetry
from orchestrators import copy_restore_point, copy_slots, orphan_lane, replicate_collection, replicate_lane
from orchestrators import sweep as sweep_orchestrator

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (
    http_api.bp,
    protection.bp,
    dashboard.bp,
    events.bp,
    sweep.bp,
    activities.bp,
    sweep_orchestrator.bp,
    replicate_collection.bp,
    replicate_lane.bp,
    copy_restore_point.bp,
    orphan_lane.bp,
    copy_slots.bp,
):
    app.register_functions(blueprint)

startup.check_settings()
telemetry.configure()

"""Issue 13's alerts and events topic in the Bicep: what each alert looks for is what the app really logs.

Each scheduled-query rule matches a log line; these tests read the line from the code (so renaming a log
message without the alert fails here), check the action group mails the azd parameter, and that the events
topic takes CloudEvents with local auth off and hands its endpoint to the app.
"""

from __future__ import annotations

import re

import infra_lib

ALERTS = infra_lib.INFRA / "modules" / "alerts.bicep"
TOPIC = infra_lib.INFRA / "modules" / "events-topic.bicep"
MAIN = infra_lib.INFRA / "main.bicep"
PARAMS = infra_lib.INFRA / "main.parameters.json"


def _text(path) -> str:
    return path.read_text(encoding="utf-8")


def _code() -> str:
    return "\n".join(_text(p) for p in infra_lib.app_python_files())


def test_action_group_mails_the_azd_parameter():
    text = _text(ALERTS)
    assert "Microsoft.Insights/actionGroups@" in text and "emailAddress: alertEmail" in text
    assert '"${ALERT_EMAIL=}"' in _text(PARAMS)
    assert re.search(r"module alerts 'modules/alerts.bicep' = if \(!empty\(alertEmail\)\)", _text(MAIN))


def test_four_rules_each_on_a_line_the_app_logs():
    text = _text(ALERTS)
    names = re.findall(r"name: '([a-z-]+)'\n    displayName", text)
    assert names == ["rpo-missed", "copy-given-up", "eventgrid-dead-letters", "failed-orchestrations"]
    assert "Microsoft.Insights/scheduledQueryRules@" in text and "actionGroup.id" in text
    code = _code()
    for message in re.findall(r'message startswith \\?"([^"\\]+)\\?"', text):
        assert f'"{message}' in code or f"'{message}" in code or message in code, f"no code logs {message!r}"
    assert 'startswith "RPO objective missed"' in text and 'startswith "copy given up"' in text
    assert '"RPO objective missed"' in code and '"failed": "copy given up"' in code
    # Dead letters: blobs written into the container the Event Grid subscription dead-letters to.
    assert "StorageBlobLogs" in text and "deadLetterContainerName" in text and "category: 'StorageWrite'" in text
    assert "Host.Triggers.DurableTask" in text and "prop__state" in text


def test_events_topic_takes_cloudevents_with_entra_only_and_feeds_the_app():
    text = _text(TOPIC)
    assert "inputSchema: 'CloudEventSchemaV1_0'" in text and "disableLocalAuth: true" in text
    assert "d5a91429-5739-47e2-a06b-3470a27159e7" in text  # EventGrid Data Sender, on the topic only
    main = _text(MAIN)
    assert "name: 'EVENTGRID_TOPIC_ENDPOINT'" in main and "eventsTopicModule.outputs.endpoint" in main
    assert "name: 'PROTECTION_SCHEDULE'" in main
    code = _code()
    assert '"EVENTGRID_TOPIC_ENDPOINT"' in code and "%PROTECTION_SCHEDULE%" in code

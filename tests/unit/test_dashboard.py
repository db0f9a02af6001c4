"""The dashboard in template.yaml is valid JSON once substituted, and every batchcalls metric it
(or an alarm) shows is one the code emits — a renamed metric would leave an empty widget."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from local.template import Template

ROOT = Path(__file__).resolve().parents[2]
EMITTED = {
    match
    for path in (ROOT / "layers" / "core" / "batchcalls").rglob("*.py")
    for match in re.findall(r'metric\(\s*"(\w+)"', path.read_text())
}


def dashboard_body() -> dict[str, Any]:
    resources = Template.load(ROOT).resources
    text = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return dict(json.loads(re.sub(r"\$\{[^}]+\}", "x", text)))


def test_the_dashboard_is_json_and_shows_only_metrics_the_code_emits() -> None:
    body = dashboard_body()
    assert len(body["widgets"]) >= 12
    shown: set[str] = set()
    for widget in body["widgets"]:
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], dict):
                shown.update(re.findall(r'MetricName="(\w+)"', line[0]["expression"]))
            elif line[0] == "batchcalls":
                shown.add(line[1])
    ours = {name for name in shown if name[0].isupper() and name not in ("Errors", "Throttles", "Duration")}
    assert ours and ours <= EMITTED, ours - EMITTED


def test_every_alarm_on_a_batchcalls_metric_watches_one_the_code_emits() -> None:
    resources = Template.load(ROOT).resources
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {a["MetricName"] for a in alarms if a.get("Namespace") == "batchcalls"}
    assert watched == {"StuckCallsSwept", "WebhookEndpointsDisabled", "ImportsFailed"} and watched <= EMITTED
    assert all(a.get("AlarmActions") for a in alarms)  # every alarm reaches the topic

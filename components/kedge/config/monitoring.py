"""Fleet monitoring settings (kedge:monitoring and its keys). Pure: no Pulumi."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..spec import monitoring as spec
from .declarations import NAMESPACE
from .reader import Reader, read_input

# /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.OperationalInsights/workspaces/<name>
WORKSPACE_ID_PATTERN = re.compile(
    r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/(?P<group>[-\w._()]{1,90})/providers/"
    r"Microsoft\.OperationalInsights/workspaces/(?P<name>[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9])", re.I)
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MONITORING_KEYS = ("monitoringWorkspace", "monitoringAlertEmails", "monitoringAlertWebhook",
                   *(i.setting for i in spec.INPUTS))


LABEL_PATTERN = re.compile(r"(?P<key>([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)="
                           r"(?P<value>([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)")


def read_service_monitors(r: Reader, kedge_installs_kubevirt: bool) -> Optional[dict[str, str]]:
    """The labels of KubeVirt's ServiceMonitor, or None where the stack does not declare the Prometheus operator."""
    labels = r.string_list("monitoringServiceMonitorLabels")
    if not r.boolean("monitoringServiceMonitors"):
        if labels:
            r.problem(f"{NAMESPACE}:monitoringServiceMonitorLabels", "applies with kedge:monitoringServiceMonitors: true only; "
                                                                     "allowed: set that, or remove it")
        return None
    parsed = {}
    for label in labels:
        match = LABEL_PATTERN.fullmatch(label)
        if not match:
            r.problem(f"{NAMESPACE}:monitoringServiceMonitorLabels", f"{label!r} is not a label; allowed: key=value, e.g. "
                                                                     "release=kube-prometheus-stack")
        else:
            parsed[match.group("key")] = match.group("value")
    if not kedge_installs_kubevirt:
        r.problem(f"{NAMESPACE}:monitoringServiceMonitors", "adds a ServiceMonitor for the KubeVirt kedge installs, and this stack "
                                                            "installs none (no vm device, or kedge:kubevirt existing); allowed: false")
    return parsed


@dataclass(frozen=True)
class MonitoringSettings:
    collector_image: str
    scrape_seconds: int
    retention_days: int
    disconnected_minutes: int
    module_failing_minutes: int
    # An existing Log Analytics workspace's resource id; None: the stack creates one.
    workspace_id: Optional[str] = None
    alert_emails: tuple[str, ...] = ()
    # The secret kedge:monitoringAlertWebhook is set (its URL is read as a secret by the wiring).
    alert_webhook: bool = False

    @property
    def workspace_group_and_name(self) -> Optional[tuple[str, str]]:
        match = WORKSPACE_ID_PATTERN.fullmatch(self.workspace_id or "")
        return (match.group("group"), match.group("name")) if match else None


def read_monitoring(r: Reader, has_base_deployment: bool) -> Optional[MonitoringSettings]:
    """None unless kedge:monitoring; every monitoring key set without it is a mistake named as such."""
    if not r.boolean("monitoring"):
        for key in MONITORING_KEYS:
            if r.source.get(key) not in (None, "", [], "[]"):
                r.problem(f"{NAMESPACE}:{key}", "applies with kedge:monitoring: true only; allowed: set kedge:monitoring: true, or remove it")
        return None
    values = {i.setting: read_input(r, i, r.raw(i.setting), f"{NAMESPACE}:{i.setting}") for i in spec.INPUTS}
    for key in ("monitoringDisconnectedMinutes", "monitoringModuleFailingMinutes"):
        if values[key] * 60 < 2 * values["monitoringScrapeSeconds"]:
            r.problem(f"{NAMESPACE}:{key}", f"{values[key]} minutes is less than two uploads at monitoringScrapeSeconds "
                                            f"{values['monitoringScrapeSeconds']}: every device would alert between uploads; "
                                            f"allowed: at least {-(-2 * values['monitoringScrapeSeconds'] // 60)}")
    workspace = r.string("monitoringWorkspace") or None
    if workspace and not WORKSPACE_ID_PATTERN.fullmatch(workspace):
        r.problem(f"{NAMESPACE}:monitoringWorkspace", f"{workspace!r} is not allowed; allowed: empty (kedge creates a workspace) or a "
                                                      "Log Analytics workspace's resource id, /subscriptions/<id>/resourceGroups/<group>/"
                                                      "providers/Microsoft.OperationalInsights/workspaces/<name>")
    emails = r.string_list("monitoringAlertEmails")
    seen: set[str] = set()
    for email in emails:
        if not EMAIL_PATTERN.fullmatch(email):
            r.problem(f"{NAMESPACE}:monitoringAlertEmails", f"{email!r} is not an email address; allowed: addresses like ops@contoso.com")
        elif email.lower() in seen:
            # Each address is a receiver of the action group: a repeated one would be notified twice.
            r.problem(f"{NAMESPACE}:monitoringAlertEmails", f"{email!r} is listed twice; allowed: each address once")
        seen.add(email.lower())
    webhook = r.secret_content("monitoringAlertWebhook")
    webhook_set = bool(r.source.get("monitoringAlertWebhook"))
    if webhook_set and not r.source.is_secret("monitoringAlertWebhook"):
        r.problem(f"{NAMESPACE}:monitoringAlertWebhook", "is stored in plain text; allowed: a secret (pulumi config set --secret "
                                                         "monitoringAlertWebhook https://...), a webhook URL usually carries its token")
    elif webhook and not is_https_url(webhook):
        # The value is a secret: the message never repeats it.
        r.problem(f"{NAMESPACE}:monitoringAlertWebhook", "is not an https:// URL with a host name and no spaces; allowed: the "
                                                         "receiver's https:// URL, as a secret")
    if not emails and not webhook_set:
        r.problem(f"{NAMESPACE}:monitoringAlertEmails", "is empty and no monitoringAlertWebhook is set: the alerts would reach no one; "
                                                        "allowed: at least one email address, or the webhook")
    if not has_base_deployment:
        r.problem(f"{NAMESPACE}:monitoring", "adds the metrics collector to the stack's base deployments, and this stack declares "
                                             "none; allowed: a stack with a base deployment (kedge:deployments with layered: false)")
    return MonitoringSettings(
        collector_image=values["monitoringCollectorImage"], scrape_seconds=values["monitoringScrapeSeconds"],
        retention_days=values["monitoringRetentionDays"], disconnected_minutes=values["monitoringDisconnectedMinutes"],
        module_failing_minutes=values["monitoringModuleFailingMinutes"], workspace_id=workspace, alert_emails=emails,
        alert_webhook=webhook_set,
    )


def is_https_url(value: str) -> bool:
    """An absolute https:// URL with a host (and a valid port, if any), nothing to trim."""
    from urllib.parse import urlsplit

    if any(character.isspace() for character in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)

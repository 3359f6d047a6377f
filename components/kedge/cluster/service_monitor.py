"""A Prometheus operator ServiceMonitor for KubeVirt's metrics, where a Prometheus already runs."""

from typing import NotRequired, Optional, TypedDict

import pulumi

from ..arg_docs import document_args
from ..args import check_args
from ..options import ChildOptions
from .kubernetes_object import kubernetes_object

# virt-operator's metrics Service: label prometheus.kubevirt.io=true, port "metrics" (443, https),
# in KubeVirt's namespace (kubevirt/kubevirt v1.9.0, virt-operator's resource generator:
# NewPrometheusService in deployments.go). KubeVirt's own ServiceMonitor (NewServiceMonitorCR in
# prometheus.go, same package) selects it the same way, over https with certificate verification off, as
# here: its serving certificates come from KubeVirt's own CA, which Prometheus does not know.
KUBEVIRT_METRICS_LABEL = ("prometheus.kubevirt.io", "true")
SERVICE_MONITOR_API = "monitoring.coreos.com/v1"


class KubevirtServiceMonitorArgs(TypedDict):
    """Inputs of KubevirtServiceMonitor."""

    kubevirt_namespace: str
    """Where KubeVirt runs (its metrics Service)."""
    labels: NotRequired[dict[str, str]]
    """Labels the cluster's Prometheus selects ServiceMonitors by (its serviceMonitorSelector), e.g. {release: kube-prometheus-stack}."""


def service_monitor_manifest(namespace: str, labels: dict[str, str]) -> dict:
    key, value = KUBEVIRT_METRICS_LABEL
    return {
        "apiVersion": SERVICE_MONITOR_API,
        "kind": "ServiceMonitor",
        "metadata": {"name": "kedge-kubevirt", "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "kedge", **labels}},
        "spec": {
            "selector": {"matchLabels": {key: value}},
            "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [{"port": "metrics", "scheme": "https", "tlsConfig": {"insecureSkipVerify": True}, "honorLabels": True}],
        },
    }


class KubevirtServiceMonitor(pulumi.ComponentResource):
    """Lets the cluster's Prometheus scrape KubeVirt (virt-api, virt-controller, virt-handler: VM and
    node-level virtualization metrics). Needs the ServiceMonitor CRD: only where the stack declares it."""

    namespace: pulumi.Output[str]
    """The ServiceMonitor's namespace."""

    def __init__(self, name: str, args: KubevirtServiceMonitorArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("KubevirtServiceMonitor", args, KubevirtServiceMonitorArgs)
        super().__init__("kedge:index:KubevirtServiceMonitor", name, None, opts)
        kubernetes_object(f"{name}-servicemonitor", service_monitor_manifest(args["kubevirt_namespace"], dict(args.get("labels") or {})),
                          ChildOptions(self, opts).child())
        self.namespace = pulumi.Output.from_input(args["kubevirt_namespace"])
        self.register_outputs({"namespace": self.namespace})


document_args(__name__)  # help() lists each args class's fields, required ones first

"""Fleet benchmark: the real program under mocks for 1, 10, 100 and 1,000 devices (mixed modes).

For each size it measures, each in a fresh interpreter: wall time, peak memory (max RSS) and
the registered resource count of the program; and the same for its floor, which registers the
very same recorded resources (types, names, inputs, parents) bare under the same mocks, with no
program logic; and, for insight, a "typed floor" registering them through the SDK's typed classes
(Kubernetes, command) instead of bare. Run it from the repository root:

    venv/bin/python benchmarks/fleet.py            # all sizes
    venv/bin/python benchmarks/fleet.py 1 10 100   # some sizes
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1, 10, 100, 1000)
TARGETS = "within 1.5x of the floor at 1,000 devices, under 120 s and 1 GB, time(1000) <= 11 x time(100)"


def fleet_config(size: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.harness import load_stack_config

    config = load_stack_config("dev")
    config["dindImage"] = "reg.example/iotedge-dind:1.6.0-1"
    config["devices"] = [
        {"id": f"edge-{i:04d}", "mode": "dind" if i % 2 else "vm", "tags": {"site": f"site-{i % 7}", "line": str(i % 3)}}
        for i in range(size)
    ]
    return config


def measure_program(size: int, record: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.harness import run_program

    config = fleet_config(size)
    start = time.perf_counter()
    run = run_program("bench", config)
    elapsed = time.perf_counter() - start
    record.write_text(json.dumps([
        {"urn": r.urn, "type": r.type, "name": r.name, "inputs": r.inputs, "parent": r.parent, "custom": r.custom}
        for r in run.resources
    ]))
    return {"seconds": elapsed, "resources": len(run.resources)}


def _typed_constructor(type_token: str):
    """The SDK class for a recorded Kubernetes or command resource, called with its recorded inputs."""
    import pulumi_kubernetes as k8s
    from pulumi_command import local

    group_version_kind = type_token.split(":")
    if type_token == "command:local:Command":
        return lambda name, inputs, opts: local.Command(
            name, opts=opts, **{_snake(k): v for k, v in inputs.items()}
        )
    if type_token == "kubernetes:yaml/v2:ConfigFile":
        return lambda name, inputs, opts: k8s.yaml.v2.ConfigFile(name, file=inputs["file"], opts=opts)
    if group_version_kind[0] == "kubernetes" and len(group_version_kind) == 3:
        group_version, kind = group_version_kind[1], group_version_kind[2]
        module_path = group_version.replace(".k8s.io", "").replace("/", ".")
        module = getattr(k8s, module_path.split(".")[0], None)
        for part in module_path.split(".")[1:]:
            module = getattr(module, part, None) if module is not None else None
        cls = getattr(module, kind, None) if module is not None else None
        if cls is None:  # a custom resource (KubeVirt, CDI)
            return lambda name, inputs, opts: k8s.apiextensions.CustomResource(
                name, api_version=inputs["apiVersion"], kind=inputs["kind"], metadata=inputs.get("metadata"),
                spec=inputs.get("spec"), opts=opts,
            )
        return lambda name, inputs, opts: cls(
            name, opts=opts, **{_snake(k): v for k, v in inputs.items() if k not in ("apiVersion", "kind")}
        )
    return None


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def measure_floor(record: Path, typed: bool = False) -> dict:
    sys.path.insert(0, str(ROOT))
    import pulumi
    from pulumi.runtime import settings as pulumi_settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from tests.harness import KedgeMocks, RecordingMonitor

    recorded = json.loads(record.read_text())
    mocks = KedgeMocks("bench")
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="kedge", stack="bench", monitor=RecordingMonitor(mocks))

    def register_bare() -> None:
        created: dict = {}
        for item in recorded:
            opts = pulumi.ResourceOptions(parent=created.get(item["parent"]))
            constructor = _typed_constructor(item["type"]) if typed else None
            if item["type"].startswith("pulumi:providers:"):
                res = pulumi.ProviderResource(item["type"].split(":")[-1], item["name"], item["inputs"], opts)
            elif constructor is not None:
                res = constructor(item["name"], item["inputs"], opts)
            elif item["custom"]:
                res = pulumi.CustomResource(item["type"], item["name"], item["inputs"], opts)
            else:
                res = pulumi.ComponentResource(item["type"], item["name"], None, opts)
            created[item["urn"]] = res

    start = time.perf_counter()
    _sync_await(run_pulumi_func(register_bare))
    return {"seconds": time.perf_counter() - start, "resources": len(mocks.registered)}


def measure_typed_overhead(kind: str, count: int = 2000) -> dict:
    """Reference: the same StatefulSet registered `count` times via the SDK's typed class or bare."""
    sys.path.insert(0, str(ROOT))
    import pulumi
    import pulumi_kubernetes as k8s
    from pulumi.runtime import settings as pulumi_settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from tests.harness import KedgeMocks, RecordingMonitor

    mocks = KedgeMocks("bench")
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="kedge", stack="bench", monitor=RecordingMonitor(mocks))
    spec = {
        "replicas": 1, "serviceName": "x", "selector": {"matchLabels": {"app": "x"}},
        "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}},
    }

    def register() -> None:
        for i in range(count):
            metadata = {"name": f"s{i}", "namespace": "bench"}
            if kind == "typed":
                k8s.apps.v1.StatefulSet(f"s{i}", metadata=metadata, spec=spec)
            else:
                pulumi.CustomResource("kubernetes:apps/v1:StatefulSet", f"s{i}",
                                      {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata, "spec": spec})

    start = time.perf_counter()
    _sync_await(run_pulumi_func(register))
    return {"seconds": time.perf_counter() - start, "resources": count}


def child(kind: str, size: int, record: Path) -> None:
    if kind in ("typed", "bare"):
        result = measure_typed_overhead(kind)
    elif kind == "program":
        result = measure_program(size, record)
    else:
        result = measure_floor(record, typed=kind == "typed-floor")
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(kind: str, size: int, record: Path) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(size), str(record)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(sizes) -> None:
    rows, rows_typed = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            record = Path(scratch) / f"fleet-{size}.json"
            program = run_child("program", size, record)
            floor = run_child("floor", size, record)
            typed_floor = run_child("typed-floor", size, record)
            assert program["resources"] == floor["resources"] == typed_floor["resources"], (program, floor, typed_floor)
            rows[size] = (program, floor)
            rows_typed[size] = typed_floor["seconds"]
            print(
                f"{size:>5} devices  {program['resources']:>6} resources  "
                f"program {program['seconds']:7.2f} s {program['peak_mb']:7.0f} MB   "
                f"floor {floor['seconds']:7.2f} s {floor['peak_mb']:7.0f} MB   "
                f"ratio {program['seconds'] / floor['seconds']:4.2f}   "
                f"typed floor {typed_floor['seconds']:7.2f} s (ratio {program['seconds'] / typed_floor['seconds']:4.2f})",
                flush=True,
            )
    typed, bare = run_child("typed", 0, Path("-")), run_child("bare", 0, Path("-"))
    print(
        f"reference: 2,000 StatefulSets via the typed pulumi_kubernetes class {typed['seconds']:.2f} s, "
        f"bare {bare['seconds']:.2f} s (typed/bare {typed['seconds'] / bare['seconds']:.2f})"
    )
    if 100 in rows and 1000 in rows:
        program, floor = rows[1000]
        growth = program["seconds"] / rows[100][0]["seconds"]
        print(f"growth: time(1000) / time(100) = {growth:.2f}")
        for label, ok in [
            ("program within 1.5x of its floor at 1,000", program["seconds"] <= 1.5 * floor["seconds"]),
            ("program within 1.5x of its typed floor at 1,000 (not a target: insight)", program["seconds"] <= 1.5 * rows_typed[1000]),
            ("under 120 s at 1,000", program["seconds"] < 120),
            ("under 1 GB at 1,000", program["peak_mb"] < 1024),
            ("linear: time(1000) <= 11 x time(100)", growth <= 11),
        ]:
            print(f"{'met    ' if ok else 'NOT MET'}  {label}")
    print(f"targets: {TARGETS}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    else:
        main([int(a) for a in sys.argv[1:]] or SIZES)

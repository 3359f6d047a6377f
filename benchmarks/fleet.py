"""Fleet benchmark: the real program under mocks for 100, 1,000, 3,000 and 5,000 devices (mixed modes).

For each size it measures, each in a fresh interpreter: wall time, peak memory (max RSS) and
the registered resource count of the program (with the default rollout settings: waves); and,
up to 1,000 devices (its target), the same for its floor, which registers the
very same recorded resources again (types, names, inputs with their secrets, and options:
parent, provider, dependencies, ...) bare under the same mocks, with no program logic, and
checks it registered the same graph; and, for insight, a "typed floor" registering them through
the SDK's typed classes (Kubernetes, command) instead. Every interpreter runs with the
collector setting the program sets for itself (__main__.py), so the ratios
measure what the program adds. Run it from the repository root:

    venv/bin/python benchmarks/fleet.py            # all sizes
    venv/bin/python benchmarks/fleet.py 1 10 100   # some sizes
    venv/bin/python benchmarks/fleet.py --best-of 3 1000   # each figure the best of 3 runs (a shared machine)

The measured curve is in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import ast
import dataclasses
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (100, 1000, 3000, 5000)
FLOOR_SIZES_UP_TO = 1000  # the floors' target is at 1,000 devices; beyond, the program alone (they take as long again)
TARGETS = ("within 1.35x of the typed floor at 1,000 devices, under 120 s and 1 GB, time(1000) <= 11 x time(100); "
           "5,000 devices under 300 s and 4 GB, time(5000) <= 5.5 x time(1000) (issue 28)")


def fleet_config(size: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.harness import USER_NAMESPACE_READY, load_stack_config

    config = {**load_stack_config("dev"), **USER_NAMESPACE_READY}
    config["dindImage"] = "reg.example/iotedge-dind:1.6.0-1"
    config["devices"] = [
        {"id": f"edge-{i:04d}", "mode": "dind" if i % 2 else "vm", "tags": {"site": f"site-{i % 7}", "line": str(i % 3)}}
        for i in range(size)
    ]
    return config


def measure_program(size: int, record: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.harness import run_program, stack_secrets

    config = fleet_config(size)
    start = time.perf_counter()
    run = run_program("bench", config, secrets=stack_secrets(config))
    elapsed = time.perf_counter() - start
    record.write_text(json.dumps([dataclasses.asdict(r) for r in run.resources], default=sorted))
    return {"seconds": elapsed, "resources": len(run.resources)}


def measure_floor(record: Path, typed: bool = False) -> dict:
    """Registers the recorded resources again, in order, each with its recorded inputs (secrets
    secret again) and options (parent, provider, dependencies, ...): bare, or for the typed
    floor through the SDK's typed classes."""
    sys.path.insert(0, str(ROOT))
    from tests import replay
    from tests.harness import Registered

    recorded = [Registered(**item) for item in json.loads(record.read_text())]
    register = replay.typed if typed else replay.bare
    start = time.perf_counter()
    mocks = replay.record(lambda: replay.replay(recorded, register), stack="bench")
    seconds = time.perf_counter() - start

    def shape(resources: list) -> list:
        return sorted(
            (r.urn, r.parent, r.provider, sorted(r.dependencies), sorted(r.secret_paths), json.dumps(r.inputs, sort_keys=True))
            for r in resources
        )

    assert shape(mocks.registered) == shape(recorded), "the floor did not register what the program registered"
    return {"seconds": seconds, "resources": len(mocks.registered)}


def measure_typed_overhead(kind: str, count: int = 2000) -> dict:
    """Reference: the same StatefulSet registered `count` times via the SDK's typed class or bare."""
    sys.path.insert(0, str(ROOT))
    import pulumi
    import pulumi_kubernetes as k8s

    from tests import replay

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
    replay.record(register, stack="bench")
    return {"seconds": time.perf_counter() - start, "resources": count}


def program_young_threshold() -> int:
    """The young-generation threshold __main__.py sets (its YOUNG_GENERATION_THRESHOLD)."""
    tree = ast.parse((ROOT / "__main__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "YOUNG_GENERATION_THRESHOLD" for t in node.targets):
            return int(ast.literal_eval(node.value))
    raise LookupError("__main__.py sets no YOUNG_GENERATION_THRESHOLD")


def child(kind: str, size: int, record: Path) -> None:
    sys.path.insert(0, str(ROOT))
    # The program tunes the collector first thing (__main__.py); its floors run the same way,
    # so the ratio measures what the program adds, not the collector settings.
    gc.set_threshold(program_young_threshold(), *gc.get_threshold()[1:])
    if kind in ("typed", "bare"):
        result = measure_typed_overhead(kind)
    elif kind == "program":
        result = measure_program(size, record)
    else:
        result = measure_floor(record, typed=kind == "typed-floor")
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(kind: str, size: int, record: Path, best_of: int = 1) -> dict:
    """One measurement in a fresh interpreter; with `best_of`, the fastest of that many (each
    run's own peak memory comes with it): on a shared machine, the run least slowed by others."""
    runs = []
    for _ in range(best_of):
        output = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(size), str(record)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    return min(runs, key=lambda run: run["seconds"])


def main(sizes, best_of: int = 1) -> None:
    rows, rows_typed = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            record = Path(scratch) / f"fleet-{size}.json"
            program = run_child("program", size, record, best_of)
            line = f"{size:>5} devices  {program['resources']:>6} resources  program {program['seconds']:7.2f} s {program['peak_mb']:7.0f} MB"
            if size <= FLOOR_SIZES_UP_TO:
                floor = run_child("floor", size, record, best_of)
                typed_floor = run_child("typed-floor", size, record, best_of)
                assert program["resources"] == floor["resources"] == typed_floor["resources"], (program, floor, typed_floor)
                rows_typed[size] = typed_floor["seconds"]
                line += (f"   floor {floor['seconds']:7.2f} s {floor['peak_mb']:7.0f} MB   "
                         f"ratio {program['seconds'] / floor['seconds']:4.2f}   "
                         f"typed floor {typed_floor['seconds']:7.2f} s (ratio {program['seconds'] / typed_floor['seconds']:4.2f})")
                rows[size] = (program, floor)
            else:
                rows[size] = (program, None)
            print(line, flush=True)
    typed, bare = run_child("typed", 0, Path("-")), run_child("bare", 0, Path("-"))
    print(
        f"reference: 2,000 StatefulSets via the typed pulumi_kubernetes class {typed['seconds']:.2f} s, "
        f"bare {bare['seconds']:.2f} s (typed/bare {typed['seconds'] / bare['seconds']:.2f})"
    )
    checks = []
    if 100 in rows and 1000 in rows:
        program, floor = rows[1000]
        growth = program["seconds"] / rows[100][0]["seconds"]
        print(f"growth: time(1000) / time(100) = {growth:.2f}")
        checks += [
            ("program within 1.35x of its typed floor at 1,000", program["seconds"] <= 1.35 * rows_typed[1000]),
            (f"program / bare floor at 1,000 = {program['seconds'] / floor['seconds']:.2f} (not a target: insight)", True),
            ("under 120 s at 1,000", program["seconds"] < 120),
            ("under 1 GB at 1,000", program["peak_mb"] < 1024),
            ("linear: time(1000) <= 11 x time(100)", growth <= 11),
        ]
    if 5000 in rows:
        program = rows[5000][0]
        checks += [("under 300 s at 5,000", program["seconds"] < 300), ("under 4 GB at 5,000", program["peak_mb"] < 4096)]
        if 1000 in rows:
            growth = program["seconds"] / rows[1000][0]["seconds"]
            print(f"growth: time(5000) / time(1000) = {growth:.2f}")
            checks.append(("linear: time(5000) <= 5.5 x time(1000)", growth <= 5.5))
    for label, ok in checks:
        print(f"{'met    ' if ok else 'NOT MET'}  {label}")
    print(f"targets: {TARGETS}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    else:
        arguments = sys.argv[1:]
        best = int(arguments[arguments.index("--best-of") + 1]) if "--best-of" in arguments else 1
        if "--best-of" in arguments:
            del arguments[arguments.index("--best-of"):arguments.index("--best-of") + 2]
        main([int(a) for a in arguments] or SIZES, best)

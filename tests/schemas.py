"""The upstream schemas the validator tests read: where each comes from, pinned by sha256.

Tests read them from ../shared/schemas when it is there (this project's machines), else from
.schemas/ in the repository, which this script fills for a clone from a forge:

    venv/bin/python -m tests.schemas      # downloads into .schemas/, checks every sha256

Tests never touch the network: a missing file skips its test with this command in the reason
(and `.ci/run`, which is strict and offline, fails instead). A file whose sha256 differs from
its pin is an error either way.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = ROOT.parent / "shared" / "schemas"
FETCHED_DIR = ROOT / ".schemas"
FETCH_COMMAND = "venv/bin/python -m tests.schemas"
GITHUB = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class PinnedSchema:
    path: str  # inside the schemas folder
    url: str
    sha256: str


PINNED = (
    PinnedSchema("kubevirt-v1.9.0-swagger.json", f"{GITHUB}/kubevirt/kubevirt/v1.9.0/api/openapi-spec/swagger.json",
                 "2c12b9c092941cff4dddabc65567e44a42c70d6b6c8a70d1c2a644f4960743c5"),
    PinnedSchema("cdi-v1.66.0-swagger.json", f"{GITHUB}/kubevirt/containerized-data-importer/v1.66.0/api/openapi-spec/swagger.json",
                 "b4425aa983c0493a12c08b08d44acfbab4c7d5041fdfa6b56c105675ff8b1341"),
    PinnedSchema("schemastore/azure-iot-edgeagent-deployment-1.1.json",
                 f"{GITHUB}/SchemaStore/schemastore/master/src/schemas/json/azure-iot-edgeagent-deployment-1.1.json",
                 "18346eb461d01e3d214e3a1160220d61b918c952186182dbd9df98f5514f943f"),
    PinnedSchema("schemastore/azure-iot-edgehub-deployment-1.1.json",
                 f"{GITHUB}/SchemaStore/schemastore/master/src/schemas/json/azure-iot-edgehub-deployment-1.1.json",
                 "cd68cc0c63651910af88abb05163d50ed868cc9cd109b27248d6e41607be0b3f"),
    PinnedSchema("schemastore/azure-iot-edgehub-deployment-1.2.json",
                 f"{GITHUB}/SchemaStore/schemastore/master/src/schemas/json/azure-iot-edgehub-deployment-1.2.json",
                 "6556504630fe6b742dc7708d6833fbb92453636a870e1fb81d976bebba17ce1c"),
)
MEDIK8S = (
    ("medik8s/node-healthcheck-v0.12.0-nodehealthchecks.yaml", "medik8s/node-healthcheck-operator/v0.12.0",
     "remediation.medik8s.io_nodehealthchecks.yaml", "cbdfc3d79d620661ab47da5fc4bb43db1c6b7c6d6a8d0f1625b1dee0eb6f9e6d"),
    ("medik8s/self-node-remediation-v0.13.0-selfnoderemediationconfigs.yaml", "medik8s/self-node-remediation/v0.13.0",
     "self-node-remediation.medik8s.io_selfnoderemediationconfigs.yaml",
     "5fcc76c815869adeb544d820487df70d7f701507487416f196b875b52c3a87d8"),
)
# The shared copies were split from OLM's quickstart crds.yaml; these per-kind files of the same
# release are where a clone without them fetches from (not fetched where this was written).
OLM = (
    ("olm/olm-v0.46.0-subscriptions.yaml", "0000_50_olm_00-subscriptions.crd.yaml",
     "8a6edf3c74d0d5bab1ef57535c04907499d0b412c7a1976607cdbba212455d2b"),
    ("olm/olm-v0.46.0-operatorgroups.yaml", "0000_50_olm_00-operatorgroups.crd.yaml",
     "1bdc4ed94892b58c3dc33651c8c0ebd58ae7bb5080953ce55a3d1027d19a7754"),
    ("olm/olm-v0.46.0-catalogsources.yaml", "0000_50_olm_00-catalogsources.crd.yaml",
     "b6ebb58ce3ee16ac35c49eaa65b16ddb6b986d775d0c69007bd3bcb4410d081f"),
)
PINNED = (
    *PINNED,
    *(PinnedSchema(path, f"{GITHUB}/{repo}/config/crd/bases/{file}", digest) for path, repo, file, digest in MEDIK8S),
    *(PinnedSchema(path, f"{GITHUB}/operator-framework/operator-lifecycle-manager/v0.46.0/deploy/chart/crds/{file}", digest)
      for path, file, digest in OLM),
)
BY_PATH = {p.path: p for p in PINNED}


def schemas_dir() -> Path:
    """Where the tests read schemas: $KEDGE_SCHEMAS_DIR, ../shared/schemas, or .schemas/ (fetched)."""
    if os.environ.get("KEDGE_SCHEMAS_DIR"):
        return Path(os.environ["KEDGE_SCHEMAS_DIR"])
    return SHARED_DIR if SHARED_DIR.is_dir() else FETCHED_DIR


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(path: Path, pin: PinnedSchema) -> None:
    actual = sha256(path.read_bytes())
    if actual != pin.sha256:
        raise ValueError(f"{path}: sha256 {actual} is not the pinned {pin.sha256} ({pin.url})")


def fetch(target: Path = FETCHED_DIR, opener=urllib.request.urlopen) -> list[Path]:
    """Downloads every pinned schema into `target`, refusing any whose sha256 differs."""
    written = []
    for pin in PINNED:
        destination = target / pin.path
        if destination.exists() and sha256(destination.read_bytes()) == pin.sha256:
            continue
        with opener(pin.url, timeout=60) as response:
            data = response.read()
        if sha256(data) != pin.sha256:
            raise ValueError(f"{pin.url}: sha256 {sha256(data)} is not the pinned {pin.sha256}; nothing written")
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        written.append(destination)
    return written


def main(target: Path = FETCHED_DIR, opener=urllib.request.urlopen) -> int:
    """Fetches the pinned schemas; says plainly what failed instead of a traceback (e.g. offline)."""
    try:
        written = fetch(target, opener)
    except (OSError, ValueError) as error:  # urllib's URLError and timeouts are OSErrors
        print(f"could not fetch the pinned schemas ({error}); the schema tests read them from ../shared/schemas, "
              f"$KEDGE_SCHEMAS_DIR or {FETCHED_DIR.relative_to(ROOT)}/, and skip (fail in CI) without them", file=sys.stderr)
        return 1
    for path in written:
        print(f"fetched {path}")
    print(f"all {len(PINNED)} schemas in {target} match their sha256 pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())

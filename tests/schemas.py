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
    PinnedSchema("schemastore/azure-iot-edgehub-deployment-1.2.json",
                 f"{GITHUB}/SchemaStore/schemastore/master/src/schemas/json/azure-iot-edgehub-deployment-1.2.json",
                 "6556504630fe6b742dc7708d6833fbb92453636a870e1fb81d976bebba17ce1c"),
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


if __name__ == "__main__":
    for path in fetch():
        print(f"fetched {path.relative_to(ROOT)}")
    print(f"all {len(PINNED)} schemas in {FETCHED_DIR.relative_to(ROOT)} match their sha256 pins")
    sys.exit(0)

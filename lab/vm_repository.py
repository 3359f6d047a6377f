"""A stand-in for Microsoft's package repository, for the vm guest: the files kedge's guest fetches
from https://packages.microsoft.com, built here with dpkg-deb, apt-ftparchive and gpg.

- `config/ubuntu/<release>/packages-microsoft-prod.deb`: a stand-in of Microsoft's repository
  package: an apt source for `https://packages.microsoft.com/ubuntu/<release>/prod <codename> main`,
  signed-by the lab's repository key, which it installs under /usr/share/keyrings.
- `ubuntu/<release>/prod`: a signed apt repository (InRelease) with
  - `moby-engine` (a stand-in, not Moby): a `docker.service` whose daemon only sleeps and a `docker`
    command that keeps containers as folders under /var/lib/kedge-lab/docker: `ps -aq [-f label=..]`,
    `inspect`, `rm -f`, `create --name --label -e` (enough for what kedge's sync program and the
    stand-in IoT Edge ask of it; it refuses to answer while docker.service is stopped, as Moby does);
  - `aziot-identity-service` and `aziot-edge` (lab/standins.py's stand-ins) in each of VERSIONS, so
    an upgrade and a downgrade can be tried. Here the stand-in `aziot-edged` also keeps an
    `edgeAgent` container, labelled as edgeAgent labels its modules, with config.toml's `[agent.env]`
    as its environment, when none exists: the stand-in daemon does it, as aziot-edged creates edgeAgent
    when it is missing.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

from . import cache_dir, standins
from .images import _locked

VERSIONS = ("1.6.0-1", "1.6.1-1", "1.6.2-1")  # stand-ins (kedge accepts 1.6.x only); the ordering is what the tests use
MOBY_VERSION = "27.3.1-1+kedgelab"
REPOSITORY_PACKAGE_VERSION = "1.1+kedgelab"
CODENAMES = {"22.04": "jammy", "24.04": "noble"}
STATE = "/var/lib/kedge-lab/docker"
AGENT_LABEL = "net.azure-devices.edge.owner=Microsoft.Azure.Devices.Edge.Agent"

DOCKER = rf"""#!/bin/sh
# kedge lab stand-in for Moby's `docker` CLI (not Moby): containers are folders under {STATE}.
set -u
state={STATE}
if ! systemctl is-active --quiet docker.service; then
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
  exit 1
fi
mkdir -p "$state"
find_container() {{
  for c in "$state"/*; do
    [ -d "$c" ] || continue
    if [ "$(basename "$c")" = "$1" ] || [ "$(cat "$c/id")" = "$1" ]; then echo "$c"; return 0; fi
  done
  return 1
}}
command=${{1:-}}; [ $# -gt 0 ] && shift
case "$command" in
  ps)
    filter=""
    while [ $# -gt 0 ]; do
      case "$1" in -f|--filter) filter="${{2#label=}}"; shift 2 ;; --filter=*) filter="${{1#--filter=label=}}"; shift ;; *) shift ;; esac
    done
    for c in "$state"/*; do
      [ -d "$c" ] || continue
      if [ -z "$filter" ] || grep -qxF "$filter" "$c/labels"; then cat "$c/id"; fi
    done ;;
  inspect)
    c=$(find_container "$1") || {{ echo "Error: No such object: $1" >&2; exit 1; }}
    python3 -c 'import json,sys; d=sys.argv[1]; r=lambda n: open(d+"/"+n).read().splitlines(); print(json.dumps([{{"Id": r("id")[0], "Name": "/"+d.rsplit("/",1)[1], "Config": {{"Env": r("env"), "Labels": dict(l.split("=",1) for l in r("labels"))}}}}], indent=1))' "$c" ;;
  rm)
    [ "${{1:-}}" = -f ] && shift
    for name; do
      c=$(find_container "$name") || {{ echo "Error: No such container: $name" >&2; exit 1; }}
      rm -rf "$c" && echo "$name"
    done ;;
  create)
    name="" labels="" env=""
    while [ $# -gt 1 ]; do
      case "$1" in --name) name=$2 ;; --label|-l) labels="$labels$2\n" ;; -e|--env) env="$env$2\n" ;; esac
      shift 2
    done
    c="$state/$name"; mkdir -p "$c"
    printf "$labels" > "$c/labels"; printf "$env" > "$c/env"
    id=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n'); echo "$id" > "$c/id"; echo "$id" ;;
  version|--version) echo "Docker version {MOBY_VERSION} (kedge lab stand-in)" ;;
  *) echo "kedge lab stand-in docker: '$command' is not implemented" >&2; exit 2 ;;
esac
"""

DOCKERD_UNIT = """[Unit]
Description=Moby daemon (kedge lab stand-in)

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""

# edgeAgent as IoT Edge would create it (run by the stand-in aziot-edged while it is missing).
EDGE_AGENT_UP = rf"""#!/bin/sh
# kedge lab: create edgeAgent (a stand-in container) with config.toml's [agent.env], unless it exists.
set -u
config=$1
docker inspect edgeAgent >/dev/null 2>&1 && exit 0
docker ps >/dev/null 2>&1 || exit 0
env=$(sed -n '/^\[agent.env\]/,/^\[/{{s/^\([A-Za-z_][A-Za-z0-9_]*\) *= *"\(.*\)" *$/\1=\2/p}}' "$config" 2>/dev/null)
set -- --name edgeAgent --label {AGENT_LABEL}
for e in $env; do set -- "$@" -e "$e"; done
docker create "$@" >/dev/null
"""

# The stand-in daemon: like aziot-edged, it (re)creates edgeAgent whenever it is missing, from the
# configuration `iotedge config apply` applied last (the stand-in `iotedge` keeps a copy of it).
EDGED = """#!/bin/sh
# kedge lab stand-in for aziot-edged: no identity, no provisioning; it keeps an edgeAgent container.
echo "aziot-edged (kedge lab stand-in) started"
while :; do
  [ -f /var/lib/kedge-lab/applied-config.toml ] && /usr/libexec/kedge-lab/edge-agent-up /var/lib/kedge-lab/applied-config.toml
  sleep 5
done
"""


def iotedge(version: str) -> str:
    marker = "iotedge 1.6.0 (kedge"
    if marker not in standins.IOTEDGE:
        raise ValueError("lab/standins.py's iotedge changed: update lab/vm_repository.py")
    return standins.IOTEDGE.replace(marker, f"iotedge {version.split('-')[0]} (kedge")


def _sign_key(home: Path) -> None:
    if (home / "public.gpg").exists():
        return
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--passphrase", ""]
    subprocess.run([*gpg, "--quick-gen-key", "kedge lab repository (stands in for Microsoft's)", "rsa3072", "sign", "never"],
                   check=True, capture_output=True)
    public = subprocess.run([*gpg, "--export"], check=True, capture_output=True).stdout
    (home / "public.gpg").write_bytes(public)


def build(out: Path, release: str = "24.04") -> Path:
    """The repository tree in `out` (served as https://packages.microsoft.com/); returns `out`."""
    codename = CODENAMES[release]
    home = cache_dir() / "ca-vm" / "gnupg"
    with _locked("vm-gnupg"):
        _sign_key(home)
    prod = out / "ubuntu" / release / "prod"
    pool = prod / "pool" / "main"
    pool.mkdir(parents=True)
    config = out / "config" / "ubuntu" / release
    config.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = (f"deb [arch=amd64 signed-by=/usr/share/keyrings/microsoft-prod.gpg] "
                  f"https://packages.microsoft.com/ubuntu/{release}/prod {codename} main\n")
        keyring = work / "microsoft-prod.gpg"
        keyring.write_bytes((home / "public.gpg").read_bytes())
        repository = _package_with(work / "repo", "packages-microsoft-prod", REPOSITORY_PACKAGE_VERSION, {}, {
            "/etc/apt/sources.list.d/microsoft-prod.list": (source, 0o644),
        }, {"/usr/share/keyrings/microsoft-prod.gpg": keyring}, "")
        shutil.copy(repository, config / "packages-microsoft-prod.deb")
        debs = [_package_with(work / "moby", "moby-engine", MOBY_VERSION, {}, {
            "/usr/bin/docker": (DOCKER, 0o755),
            "/lib/systemd/system/docker.service": (DOCKERD_UNIT, 0o644),
        }, {}, "if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi\n"
               "systemctl enable docker.service >/dev/null 2>&1 || true\n")]
        users = "".join(f"getent passwd {u} >/dev/null || adduser --system --group --no-create-home --home /var/lib/aziot {u}\n"
                        for u in ("aziotcs", "aziotks", "aziotid", "aziottpm"))
        for version in VERSIONS:
            debs.append(_package_with(work / f"identity-{version}", "aziot-identity-service", version, {}, {
                "/usr/bin/aziotctl": (standins.AZIOTCTL, 0o755),
            }, {}, users + "install -d -m 0755 /etc/aziot /etc/aziot/identityd/config.d\n"))
            debs.append(_package_with(work / f"edge-{version}", "aziot-edge", version,
                                      {"Depends": f"aziot-identity-service (= {version})"}, {
                "/usr/bin/iotedge": (iotedge(version), 0o755),
                "/usr/libexec/kedge-lab/edge-agent-up": (EDGE_AGENT_UP, 0o755),
                "/usr/libexec/aziot/aziot-edged": (EDGED, 0o755),
                "/lib/systemd/system/aziot-edged.service": (standins.EDGED_UNIT, 0o644),
            }, {}, "getent passwd iotedge >/dev/null || adduser --system --group --no-create-home iotedge\n"
                   "install -d -m 0755 /etc/aziot /var/lib/aziot\n"
                   "if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi\n"
                   "systemctl enable aziot-edged.service >/dev/null 2>&1 || true\n"))
        for deb in debs:
            shutil.copy(deb, pool / deb.name)
    binary = prod / "dists" / codename / "main" / "binary-amd64"
    binary.mkdir(parents=True)
    packages = subprocess.run(["apt-ftparchive", "packages", "pool"], cwd=prod, check=True, capture_output=True).stdout
    (binary / "Packages").write_bytes(packages)
    release_text = subprocess.run(
        ["apt-ftparchive", "-o", f"APT::FTPArchive::Release::Suite={codename}", "-o", f"APT::FTPArchive::Release::Codename={codename}",
         "-o", "APT::FTPArchive::Release::Components=main", "-o", "APT::FTPArchive::Release::Architectures=amd64",
         "-o", "APT::FTPArchive::Release::Origin=kedge lab (stands in for packages.microsoft.com)",
         "release", f"dists/{codename}"], cwd=prod, check=True, capture_output=True).stdout
    (prod / "dists" / codename / "Release").write_bytes(release_text)
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes", "--digest-algo", "SHA512", "--clearsign",
                    "-o", str(prod / "dists" / codename / "InRelease"), str(prod / "dists" / codename / "Release")],
                   check=True, capture_output=True)
    return out


def _package_with(work: Path, name: str, version: str, control: dict[str, str], files: dict[str, tuple[str, int]],
                  binaries: dict[str, Path], postinst: str) -> Path:
    """lab/standins.py's package builder with a version of our own and files copied as they are."""
    work.mkdir(parents=True, exist_ok=True)
    deb = standins._package(work, name, {"Version": version, **control}, files, postinst)
    if binaries:  # rebuilt with the binary files in the tree standins._package left
        tree = work / name
        for path, source in binaries.items():
            target = tree / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            target.chmod(0o644)
        deb.unlink()
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(tree), str(deb)], check=True, stdout=subprocess.DEVNULL)
    named = work / f"{name}_{version}_amd64.deb"
    deb.rename(named)
    return named

"""Debian mirrors and mmdebstrap: the only source of the lab's software."""

import re
import shutil
import subprocess
from pathlib import Path

from . import cache_dir


def host_mirror() -> str:
    """The Debian mirror this machine's own apt configuration uses (deb822 or one-line form)."""
    candidates: list[str] = []
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for stanza in path.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and not any(s.endswith("-security") for s in suites.group(1).split()):
                candidates.append(uris.group(1))
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        if path.exists():
            for line in path.read_text().splitlines():
                match = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if match and not match.group(2).endswith("-security"):
                    candidates.append(match.group(1))
    for uri in candidates:
        if "/debian" in uri and "security" not in uri:
            return uri.rstrip("/")
    raise RuntimeError("no Debian mirror found in /etc/apt (the lab builds from Debian packages only)")


def security_mirror(mirror: str) -> str:
    return re.sub(r"/debian$", "/debian-security", mirror)


def require_tools(*tools: str) -> list[str]:
    """The tools missing from PATH (the caller decides whether that skips or fails)."""
    return [t for t in tools if shutil.which(t) is None]


def mmdebstrap(suite: str, packages: list[str], target: Path, hooks: list[str], extra_repos: list[str] = (),
               log: Path | None = None) -> None:
    """A root filesystem directory at `target` from `suite` (main only, no recommends)."""
    mirror = host_mirror()
    sources = [f"deb {mirror} {suite} main", f"deb {mirror} {suite}-updates main",
               f"deb {security_mirror(mirror)} {suite}-security main", *extra_repos]
    command = [
        "mmdebstrap", "--mode=root", "--variant=apt", "--format=directory",
        "--aptopt=APT::Install-Recommends \"false\"", "--aptopt=Acquire::Retries \"3\"",
        "--include=" + ",".join(packages),
        *[f"--customize-hook={hook}" for hook in hooks],
        suite, str(target), *sources,
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    output = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if log:
        log.write_text(output.stdout)
    if output.returncode:
        raise RuntimeError(f"mmdebstrap {suite} failed ({output.returncode}):\n{output.stdout[-4000:]}")


def apt_cache() -> Path:
    path = cache_dir() / "apt"
    path.mkdir(parents=True, exist_ok=True)
    return path

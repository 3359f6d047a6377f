"""kedge's lab: real kernels, real systemd and real container runtimes in QEMU guests.

Everything is built from Debian packages (see docs/lab.md) and cached outside the clone under
$KEDGE_LAB_CACHE (default /var/cache/kedge-lab), keyed by a hash of the inputs. Nothing here
changes the machine's own kernel: every mount, sysctl, AppArmor load and escape attempt runs
inside a QEMU guest.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = Path(__file__).resolve().parent
GUEST_FILES = LAB / "guest"


def cache_dir() -> Path:
    return Path(os.environ.get("KEDGE_LAB_CACHE", "/var/cache/kedge-lab"))

"""kedge's lab (docs/lab.md).

  python -m lab build
  python -m lab dind --stack stacks/Pulumi.dev-dind.yaml --device dind-edge-02 -- systemctl is-system-running
  python -m lab corpus --stack stacks/Pulumi.site.yaml --device site-a-gateway
  python -m lab vm --stack stacks/Pulumi.dev.yaml --device dev-edge-01 -- cat /var/lib/kedge/sync-status
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

from . import images


def _device_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, type=Path, help="a Pulumi stack file of kedge (e.g. stacks/Pulumi.dev-dind.yaml)")
    parser.add_argument("--device", required=True, help="the id of a dind device of that stack")
    parser.add_argument("--userns", choices=["as-emitted", "on", "off"], default="as-emitted",
                        help="a user namespace as the StatefulSet says (hostUsers), or forced on/off")
    parser.add_argument("--apparmor", choices=["emitted", "lab-complain"], default="emitted",
                        help="kedge's profile as emitted (enforcing), or the same in complain mode (denials only logged): "
                             "systemd cannot start under the emitted one, see docs/lab.md")


def _case(args):
    from . import dind
    from .stack import dind_device

    device = dind_device(args.stack, args.device)
    userns = {"as-emitted": None, "on": True, "off": False}[args.userns]
    case = dind.Case("cli", device, userns=userns)
    emitted = device.profiles["kedge-dind.apparmor"]
    profiles = {"lab-complain.apparmor": dind.lab_complain_apparmor(emitted)}
    return dind, case, (None if args.apparmor == "emitted" else "lab-complain.apparmor"), profiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build (or find in the cache) the node guest and the dind image")
    run = commands.add_parser("dind", help="start a device's dind container in the node guest and run COMMAND inside")
    _device_args(run)
    run.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    corpus = commands.add_parser("corpus", help="run the escape corpus in the device's confined container and print the table")
    _device_args(corpus)
    vm = commands.add_parser("vm", help="boot a vm device's guest (kedge's user-data and config share) and run COMMAND inside")
    vm.add_argument("--stack", required=True, type=Path, help="a Pulumi stack file of kedge (e.g. stacks/Pulumi.dev.yaml)")
    vm.add_argument("--device", required=True, help="the id of a vm device of that stack")
    vm.add_argument("--repository", choices=["reachable", "unreachable"], default="reachable",
                    help="whether the stand-in of packages.microsoft.com answers in the guest (default: from boot on)")
    vm.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    if args.command == "vm":
        command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not command:
            parser.error("give a command after --")
        return _vm(args, command)
    if args.command == "build":
        print(json.dumps({"node": str(images.node_image()), "dind": str(images.dind_image())}, indent=1))
        return 0
    dind, case, profile, profiles = _case(args)
    if args.command == "dind":
        command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not command:
            parser.error("give a command after --")
        step = {"label": "cli", "case": "cli", "dind": True, "command": shlex.join(command), "profile": profile}
        results = dind.run([case], [step], apparmor=profiles)
        entry = dind.step(results, "cli")
        if "command" not in entry:
            print(f"lab: the dind container did not come up: {json.dumps(entry.get('systemd') or entry, indent=1)}", file=sys.stderr)
            return 125
        sys.stdout.write(entry["command"]["output"] + "\n")
        return entry["command"]["rc"]
    from .escapes import table, verdict

    variants = ["confined", "control-userns"] if case_userns(case) else ["confined", "no-apparmor", "no-seccomp", "control"]
    results = dind.run([case], [{"label": "cli", "case": "cli", "variants": variants, "profile": profile}], apparmor=profiles)
    entry = dind.step(results, "cli")
    rows = table(entry["corpus"], case_userns(case))
    for row in rows:
        print(f"{row['attempt']:48} {'ESCAPED' if row['escaped'] else 'denied':8} control={row['control']} by={row['denied_by']}")
    print(json.dumps(verdict(entry["corpus"], case_userns(case)), indent=1))
    return 0


def _vm(args, command: list[str]) -> int:
    """Boots the guest, waits for cloud-init and the first converged sync (while the repository is
    reachable), runs `command` as root, prints its output and exits with its code (125: no guest)."""
    from .vm import VmGuest, vm_device

    device = vm_device(args.stack, args.device)
    guest = VmGuest(device)
    guest.publish(device.share_files)
    reachable = args.repository == "reachable"
    if reachable:
        guest.repository(True, wait=False)
    try:
        with guest:
            guest.run("cloud-init status --wait", timeout=900)
            if reachable:
                ok, seconds, status = guest.wait_for("grep -q '^result=converged' /var/lib/kedge/sync-status", 300)
                if not ok:
                    print(f"lab: the guest's sync did not converge within {round(seconds)} s:\n{status}", file=sys.stderr)
            result = guest.run(shlex.join(command), timeout=3600)
    except RuntimeError as error:
        print(f"lab: the vm guest did not come up: {error} (job: {guest.job})", file=sys.stderr)
        return 125
    sys.stdout.write(result.output)
    return 125 if result.rc is None else result.rc


def case_userns(case) -> bool:
    from .spec import user_namespace

    return user_namespace(case.device.pod, case.userns)


if __name__ == "__main__":
    sys.exit(main())

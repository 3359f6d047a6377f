"""The architecture's layering, checked by folder on every module's import statements and by
importing the pure layers in a fresh interpreter.

render and spec are pure (no Pulumi); config is pure too and reads its defaults and rules from
spec, never from the components; the reusable components (azure/, cluster/) never read the stack
settings; the in-cluster layer never touches Azure, so it runs unchanged on AKS, k3s or Arc.
The README's layer table states the same rules.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import ROOT

PACKAGE = ROOT / "components" / "kedge"

# Folder -> import prefixes (absolute, after resolving relative imports) it must not use.
PULUMI = ("pulumi", "pulumi_azure_native", "pulumi_kubernetes", "pulumi_command", "pulumi_random")
# The modules of kedge that load Pulumi: the pure layers may not import them.
PULUMI_HELPERS = ("kedge.args", "kedge.options", "kedge.helper_process")
FORBIDDEN = {
    "render": (*PULUMI, *PULUMI_HELPERS, "kedge.config", "kedge.spec", "kedge.azure", "kedge.cluster", "kedge.wiring"),
    "spec": (*PULUMI, *PULUMI_HELPERS, "kedge.config", "kedge.azure", "kedge.cluster", "kedge.wiring"),
    "config": (*PULUMI, *PULUMI_HELPERS, "kedge.azure", "kedge.cluster", "kedge.wiring"),
    "azure": ("kedge.config", "kedge.wiring", "kedge.cluster"),
    "cluster": ("kedge.config", "kedge.wiring", "kedge.azure", "pulumi_azure_native"),
    "choices.py": (*PULUMI, *PULUMI_HELPERS, "kedge.config", "kedge.spec", "kedge.render", "kedge.azure", "kedge.cluster",
                   "kedge.wiring"),
    "backoff.py": (*PULUMI, *PULUMI_HELPERS, "kedge.config", "kedge.spec", "kedge.render", "kedge.azure", "kedge.cluster",
                   "kedge.wiring"),
}
PURE_FOLDERS = ("config", "render", "spec")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def absolute_imports(source: str, module: str, is_package: bool) -> set[str]:
    """Every module `source` imports, relative imports resolved against `module`."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def violations(folder: str, source: str, module: str, is_package: bool = False) -> list[str]:
    imported = absolute_imports(source, module, is_package)
    bad = [name for name in imported for prefix in FORBIDDEN.get(folder, ()) if name == prefix or name.startswith(prefix + ".")]
    bad += [name for name in imported if name == "components" or name.startswith("components.")]
    return sorted(set(bad))


def package_modules():
    return sorted(PACKAGE.rglob("*.py"))


def layer_of(path: Path) -> str:
    """A module's layer: its folder under kedge/, or its file name for the top-level modules."""
    return path.relative_to(PACKAGE).parts[0]


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_layer_imports_only_what_it_may(path):
    assert violations(layer_of(path), path.read_text(), module_name(path), path.name == "__init__.py") == []


def test_every_layer_folder_exists_and_holds_modules():
    for folder in ("config", "render", "spec", "azure", "cluster", "wiring"):
        assert any((PACKAGE / folder).glob("*.py")), folder


@pytest.mark.parametrize(
    "folder, source, module, expected",
    [
        ("render", "import pulumi\n", "kedge.render.x", ["pulumi"]),
        ("render", "from ..config.settings import DEFAULTS\n", "kedge.render.x", ["kedge.config.settings",
                                                                                  "kedge.config.settings.DEFAULTS"]),
        ("cluster", "from pulumi_azure_native import iothub\n", "kedge.cluster.x", ["pulumi_azure_native", "pulumi_azure_native.iothub"]),
        ("cluster", "from ..azure.iot_hub import IotHub\n", "kedge.cluster.x", ["kedge.azure.iot_hub", "kedge.azure.iot_hub.IotHub"]),
        ("azure", "from ..config import settings\n", "kedge.azure.x", ["kedge.config", "kedge.config.settings"]),
        ("azure", "import components.settings\n", "kedge.azure.x", ["components.settings"]),
        ("azure", "from ...config import settings\n", "kedge.azure.registry.x", ["kedge.config", "kedge.config.settings"]),
        ("config", "from ..cluster import edge_vm\n", "kedge.config.settings", ["kedge.cluster", "kedge.cluster.edge_vm"]),
        ("config", "from ..args import parse_network\n", "kedge.config.x", ["kedge.args", "kedge.args.parse_network"]),
        ("config", "import pulumi_kubernetes as k8s\n", "kedge.config.x", ["pulumi_kubernetes"]),
        ("spec", "from ..azure.aks_cluster import POD_CIDR\n", "kedge.spec.x", ["kedge.azure.aks_cluster",
                                                                                 "kedge.azure.aks_cluster.POD_CIDR"]),
        ("render", "from ..spec.rules import Rule\n", "kedge.render.x", ["kedge.spec.rules", "kedge.spec.rules.Rule"]),
    ],
)
def test_the_checker_catches_a_layer_violation(folder, source, module, expected):
    assert violations(folder, source, module) == expected


def test_the_checker_accepts_what_a_layer_may_import():
    assert violations("cluster", "import pulumi\nfrom ..render.quantities import Requests\n", "kedge.cluster.x") == []
    assert violations("config", "from ..spec import vm as vm_spec\nfrom ..render.names import VM_NAMESPACE\n",
                      "kedge.config.settings") == []
    assert violations("cluster", "from ..spec.vm import DEFAULT_MEMORY\n", "kedge.cluster.edge_vm") == []


def pulumi_modules_loaded_by(module: str) -> list[str]:
    """The Pulumi modules a fresh interpreter has loaded after importing only `module`."""
    probe = ("import importlib, sys; importlib.import_module(sys.argv[1]); "
             f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {set(PULUMI)!r})))")
    done = subprocess.run([sys.executable, "-c", probe, module], capture_output=True, text=True, check=True, cwd=ROOT)
    return done.stdout.split()


@pytest.mark.parametrize("module", [module_name(p) for p in package_modules() if layer_of(p) in PURE_FOLDERS])
def test_the_pure_layers_load_no_pulumi_module_in_a_fresh_interpreter(module):
    assert pulumi_modules_loaded_by(module) == []


def test_the_fresh_interpreter_probe_sees_pulumi_where_it_is_loaded():
    assert "pulumi" in pulumi_modules_loaded_by("kedge.args")


def test_component_type_tokens_are_kedge_index_classname():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            bases = {ast.unparse(b) for b in cls.bases}
            if "pulumi.ComponentResource" in bases:
                source = ast.unparse(cls)
                assert f'"kedge:index:{cls.name}"' in source or f"'kedge:index:{cls.name}'" in source, cls.name


def test_nothing_in_the_repository_imports_components():
    for path in [*ROOT.glob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py"),
                 *(ROOT / "provider").glob("*.py"), *PACKAGE.rglob("*.py")]:
        imported = absolute_imports(path.read_text(), "x", False)
        assert not [n for n in imported if n.split(".")[0] == "components"], path


def test_docstrings_name_modules_by_their_kedge_path():
    for path in PACKAGE.rglob("*.py"):
        assert "components/" not in path.read_text(), path

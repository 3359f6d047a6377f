"""The architecture's layering, checked on the import statements of each module."""

import ast
from pathlib import Path

import pytest

from tests.harness import ROOT

COMPONENTS = ROOT / "components"


def imports_of(path: Path) -> set:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add(("." * node.level) + (node.module or ""))
    return names


@pytest.mark.parametrize("path", sorted((COMPONENTS / "cluster").rglob("*.py")), ids=lambda p: p.name)
def test_in_cluster_layer_never_imports_azure(path):
    imported = imports_of(path)
    assert not any("azure" in name for name in imported), imported


@pytest.mark.parametrize("path", sorted((COMPONENTS / "azure").rglob("*.py")), ids=lambda p: p.name)
def test_azure_layer_does_not_reach_into_the_cluster_layer(path):
    assert not any(name.endswith("cluster") and name.startswith("..") for name in imports_of(path))


def test_components_import_each_other_relatively_so_the_installed_package_works():
    for path in COMPONENTS.rglob("*.py"):
        assert not any(name.startswith("components") for name in imports_of(path)), path


def test_component_type_tokens_are_kedge_index_classname():
    for path in COMPONENTS.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            bases = {ast.unparse(b) for b in cls.bases}
            if "pulumi.ComponentResource" in bases:
                source = ast.unparse(cls)
                assert f'"kedge:index:{cls.name}"' in source or f"'kedge:index:{cls.name}'" in source, cls.name

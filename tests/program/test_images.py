"""Every image kedge chooses itself is pinned by digest (issue 27, item 6): the images a stack's
settings name (dindImage, edgeAgentImage, module images, the remediation catalog, ...) are the
user's to pin, and their defaults are settings too; everything else kedge emits carries a digest."""

import json
import re
from collections.abc import Mapping

import pytest
from dockerfile_parse import DockerfileParser

from kedge.cluster.node_labels import KUBECTL_IMAGE, PAUSE_IMAGE
from kedge.cluster.profile_loader import LOADER_IMAGE
from kedge.config.settings import DEFAULTS
from kedge.render.deployment_manifest import API_PROXY_IMAGE, upstream_image
from tests.harness import ROOT, example_stacks, load_stack_config, run_example_stack

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# Chosen by kedge but with no public digest to pin (IoT Edge's MCR images; shared/FACTS.md): the API
# proxy module a gateway with nested children runs. A tag until its digest can be read at the source.
NO_PUBLIC_DIGEST = {API_PROXY_IMAGE, upstream_image(API_PROXY_IMAGE)}
# shared/FACTS.md's digest table (multi-arch index digests, with their sources there).
FACTS_DIGESTS = {
    "busybox:1.37.0": "sha256:bdf57e528e45e4433820e045b29b4597825a1c9e38353532d90a01445013f82e",
    "registry.k8s.io/kubectl:v1.33.4": "sha256:261a9ed843eb68e3d50da132245e2221d75ca19504130e47bd32788c0ff339a0",
    "registry.k8s.io/pause:3.10": "sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
    "ubuntu:24.04": "sha256:69cecf4bbf72d2d44a9eef1b71fb98c7fb973d78af11399deccef19beb008ad9",
    "registry:2.8.3": "sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373",
}


def images(value, key=None):
    """Every string under an `image` key, in a resource's inputs and the deployments it carries."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from images(json.loads(v) if k == "KEDGE_CONTENT" and isinstance(v, str) else v, k)
    elif isinstance(value, list):
        for v in value:
            yield from images(v, key)
    elif key == "image" and isinstance(value, str):
        yield value


def strings(value):
    if isinstance(value, Mapping):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value


def chosen_by_settings(stack):
    """Every string a setting of `stack` holds, its default included, as given and as a nested device pulls it."""
    chosen = set(strings(DEFAULTS)) | set(strings(load_stack_config(stack)))
    return chosen | {upstream_image(c) for c in chosen}


def emitted(stack):
    return {image for resource in run_example_stack(stack).resources for image in images(resource.inputs)}


@pytest.mark.parametrize("stack", example_stacks())
def test_every_image_kedge_chooses_in_an_example_stack_carries_a_digest(stack):
    unpinned = sorted(i for i in emitted(stack) - chosen_by_settings(stack) - NO_PUBLIC_DIGEST if not DIGEST.search(i))
    assert unpinned == []


def test_the_pinned_images_are_the_digest_tables_and_reach_the_stacks():
    for image in (LOADER_IMAGE, KUBECTL_IMAGE, PAUSE_IMAGE):
        name, _, digest = image.partition("@")
        assert FACTS_DIGESTS[name] == digest
    seen = set().union(*(emitted(stack) for stack in example_stacks()))
    assert {LOADER_IMAGE, KUBECTL_IMAGE, PAUSE_IMAGE} <= seen
    # The example gateway's registry module: edgeAgent takes name@digest but refuses name:tag@digest.
    assert f"registry@{FACTS_DIGESTS['registry:2.8.3']}" in seen


def test_the_dind_images_base_is_pinned_by_digest():
    parser = DockerfileParser(path=str(ROOT / "images" / "iotedge-dind" / "Dockerfile"))
    assert parser.baseimage == f"ubuntu:24.04@{FACTS_DIGESTS['ubuntu:24.04']}"

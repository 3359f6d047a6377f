"""Pulling dind images from private registries: AcrPull for the AKS kubelet identity, or a pull
Secret per device elsewhere; both validated, secrets kept secret, bad settings refused."""

import base64
import json

import pytest

from kedge.azure.aks_cluster import ACR_PULL_ROLE
from kedge.cluster.edge_dind import registry_host
from tests.config.test_settings import EXISTING_CLUSTER, problems_of
from tests.harness import run_example_stack
from tests.validators import kubernetes_errors

ROLE = "azure-native:authorization:RoleAssignment"
SECRET = "kubernetes:core/v1:Secret"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
ACR = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/kedgeexample"


def test_aks_nodes_get_acr_pull_on_each_registry_through_their_kubelet_identity():
    run = run_example_stack("dev-dind", {"aksAcrPullRegistries": [ACR]})
    assignment = run.one(ROLE, "aks-acr-pull-0")
    assert assignment.get("scope") == ACR and assignment.get("principalType") == "ServicePrincipal"
    assert assignment.get("roleDefinitionId").endswith(f"/roleDefinitions/{ACR_PULL_ROLE}")
    assert assignment.get("roleDefinitionId").startswith("/subscriptions/00000000-0000-0000-0000-000000000001/")
    # The kubelet identity the mocks give the cluster (identityProfile.kubeletidentity.objectId).
    assert assignment.get("principalId") == "00000000-0000-4000-8000-0000000000aa"
    assert not [r for r in run_example_stack("dev-dind").of_type(ROLE) if "acr-pull" in r.name]


def test_elsewhere_each_dind_device_pulls_with_a_secret_login():
    run = run_example_stack("site", {"dindRegistryUsername": "kedge-pull", "dindRegistryPassword": "token-password"},
                            secrets_extra=["dindRegistryPassword"])
    statefulsets = run.of_type(STATEFULSET)
    assert statefulsets
    for statefulset in statefulsets:
        device = statefulset.get("metadata.name")
        pull = run.one(SECRET, f"{device}-pull")
        assert pull.get("type") == "kubernetes.io/dockerconfigjson" and "stringData" in pull.secret_paths
        assert kubernetes_errors({k: pull.inputs[k] for k in ("apiVersion", "kind", "metadata", "type", "stringData")}) == []
        auths = json.loads(pull.get("stringData")[".dockerconfigjson"])["auths"]
        assert set(auths) == {"contosoacr.azurecr.io"}
        assert base64.b64decode(auths["contosoacr.azurecr.io"]["auth"]).decode() == "kedge-pull:token-password"
        assert statefulset.get("spec.template.spec.imagePullSecrets") == [{"name": f"{device}-pull"}]
        assert pull.urn in statefulset.dependencies
    plain = run_example_stack("site")
    assert not [s for s in plain.of_type(SECRET) if s.name.endswith("-pull")]
    assert all(s.get("spec.template.spec.imagePullSecrets") is None for s in plain.of_type(STATEFULSET))


@pytest.mark.parametrize("values, key", [
    ({"aksAcrPullRegistries": ["kedgeexample.azurecr.io"]}, "kedge:aksAcrPullRegistries"),
    ({**EXISTING_CLUSTER, "aksAcrPullRegistries": [ACR]}, "kedge:aksAcrPullRegistries"),
    ({"dindRegistryUsername": "kedge-pull"}, "kedge:dindRegistryPassword"),
    ({"dindRegistryPassword": "x"}, "kedge:dindRegistryUsername"),
])
def test_bad_registry_settings_are_refused_naming_the_key(values, key):
    problems = problems_of(values, secret=("dindRegistryPassword",))
    assert any(p.startswith(f"{key}:") for p in problems), problems


def test_a_plain_text_registry_password_is_refused():
    problems = problems_of({"dindRegistryUsername": "u", "dindRegistryPassword": "x"})
    assert any(p.startswith("kedge:dindRegistryPassword:") and "plain text" in p for p in problems)


@pytest.mark.parametrize("image, host", [
    ("contosoacr.azurecr.io/iotedge-dind:1.6.0-1", "contosoacr.azurecr.io"),
    ("registry.local:5000/iotedge-dind:1.6.0-1", "registry.local:5000"),
    ("localhost/iotedge-dind:1.6.0-1", "localhost"),
    ("kedge/iotedge-dind:1.6.0-1", "docker.io"),
])
def test_the_pull_secret_names_the_images_registry(image, host):
    assert registry_host(image) == host


def test_a_vm_image_behind_a_login_is_imported_with_a_secret_cdi_reads():
    from tests.validators import CDI_SWAGGER, swagger_errors
    run = run_example_stack("dev", {"vmImageUsername": "images", "vmImagePassword": "image-password"},
                            secrets_extra=["vmImagePassword"])
    for disk in run.of_type("kubernetes:cdi.kubevirt.io/v1beta1:DataVolume"):
        name = disk.get("metadata.name")
        login = next(s for s in run.of_type(SECRET) if s.get("metadata.name") == disk.get("spec.source.http.secretRef"))
        assert login.get("metadata.name") == f"{name}-image-login"
        assert login.get("stringData") == {"accessKeyId": "images", "secretKey": "image-password"}
        assert "stringData" in login.secret_paths
        assert login.urn in disk.dependencies
        manifest = {k: disk.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}
        assert swagger_errors(manifest, CDI_SWAGGER, "v1beta1.DataVolume") == []
    assert all(d.get("spec.source.http.secretRef") is None
               for d in run_example_stack("dev").of_type("kubernetes:cdi.kubevirt.io/v1beta1:DataVolume"))
    assert any(p.startswith("kedge:vmImagePassword:") for p in problems_of({"vmImageUsername": "images"}))

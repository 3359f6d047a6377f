"""Config errors point at the user's own words: an undeclared key, a stack-wide value, a YAML slip."""

import pytest

from tests.harness import fake_pem, fake_ssh_public_key
import yaml

from kedge.config.settings import SettingsError, load_settings
from tests.harness import run_example_stack
from tests.config.test_settings import DECLARED_RANGES, EXISTING_CLUSTER, DictSource, load


def problems_of(values, secret=()):
    with pytest.raises(SettingsError) as raised:
        load_settings(DictSource(values, secret), "kedge", "test")
    return raised.value.problems


def test_a_misspelled_top_level_key_is_reported_with_a_suggestion():
    assert problems_of({"vmMemmory": "8Gi", "devices": [{"id": "a"}]}) == (
        "kedge:vmMemmory: is not a kedge setting; did you mean kedge:vmMemory? allowed: the keys declared in Pulumi.yaml, "
        "devices, deployments, or a secret that a device's certificates or dpsSymmetricKeySecret, or a deployment's "
        "registryCredentials, names",
    )


def test_an_unknown_key_without_a_close_match_gets_no_guess():
    (problem,) = problems_of({"flux": "on"})
    assert problem.startswith("kedge:flux: is not a kedge setting; allowed:")


def test_secrets_that_devices_name_are_not_undeclared_keys():
    values = {"devices": [{"id": "a", "auth": "x509SelfSigned", "certificates": {"identityCert": "aCert", "identityKey": "aKey"}}],
              "aCert": fake_pem("CERTIFICATE", "a"), "aKey": fake_pem("PRIVATE KEY", "a"), "aKye": "pem"}
    problems = problems_of(values, secret=("aCert", "aKey", "aKye"))
    assert [p.split(":")[1] for p in problems] == ["aKye"]


def test_a_bad_stack_wide_value_is_reported_once_against_its_own_key():
    problems = problems_of({"vmMemory": "4GB", "devices": [{"id": "a"}, {"id": "b"}, {"id": "c", "memory": "2GB"}]})
    assert [p.split(": ", 1)[0] for p in problems] == ["kedge:vmMemory", "kedge:devices[2].memory"]
    assert problems[0] == "kedge:vmMemory: '4GB' is not allowed; allowed: a Kubernetes quantity such as 512Mi or 4Gi, at least 1Gi"


def test_a_yaml_slip_is_reported_as_such_without_python_words():
    stack_file = "kedge:devices:\n  - id: edge-1\n  -\n  - mode: dind\n"
    devices = yaml.safe_load(stack_file)["kedge:devices"]
    assert devices == [{"id": "edge-1"}, None, {"mode": "dind"}]
    problems = problems_of({"devices": devices})
    assert problems == (
        "kedge:devices[1]: is empty (null), not a device; allowed: a mapping with at least `id:` (an empty `-` line or a "
        "wrong indentation in the stack file splits or empties an entry)",
        "kedge:devices[2].id: is missing; allowed: the IoT Hub device id, e.g. id: edge-1 (is the entry split by a YAML slip?)",
    )
    assert not any("None" in p for p in problems)


def test_the_program_reports_an_undeclared_key_from_the_real_pulumi_config():
    """Through PulumiConfigSource: the key comes from the engine's config map, not a test double."""
    run = run_example_stack("dev", overrides={"vmMemmory": "8Gi"}, expect_error=True)
    assert "kedge:vmMemmory: is not a kedge setting; did you mean kedge:vmMemory?" in str(run.error)
    assert run.resources == []  # nothing registered before the settings were checked


def test_a_registry_timeout_outside_its_range_names_the_key_and_the_range():
    (problem,) = problems_of({"registryTimeoutSeconds": 5, "devices": [{"id": "a"}]})
    assert problem == "kedge:registryTimeoutSeconds: 5 is not allowed; allowed: a whole number from 30 to 7200"


@pytest.mark.parametrize("values, problem", [
    ({"cluster": "existing"}, "kedge:clusterPodCidr: is required with kedge:cluster existing; allowed: the cluster's pod IPv4 range"),
    ({"cluster": "existing", "clusterPodCidr": "10.42.0.1/16"}, "kedge:clusterPodCidr: '10.42.0.1/16' is not allowed; allowed: the cluster's pod IPv4 range"),
    ({"cluster": "existing", "clusterPodCidr": "0.0.0.0/0"}, "kedge:clusterPodCidr: '0.0.0.0/0' is not allowed; allowed: the cluster's pod IPv4 range"),
    ({"clusterPodCidr": "10.1.0.0/16"}, "kedge:clusterPodCidr: '10.1.0.0/16' is not allowed with kedge:cluster aks; allowed: empty or 10.244.0.0/16"),
    ({"clusterApiServerCidrs": ["999.999.999.999/99"]}, "kedge:clusterApiServerCidrs[0]: '999.999.999.999/99' is not allowed; allowed: the API server's addresses as IPv4"),
    # A malformed range no longer stops the proxy's and the egress rules' checks with a traceback.
    ({"clusterApiServerCidrs": ["10.42.0.0/33"], "httpsProxy": "http://10.0.0.5:3128"},
     "kedge:clusterApiServerCidrs[0]: '10.42.0.0/33' is not allowed"),
    ({"vmSshSourceRanges": ["203.0.113.0/ 24"]}, "kedge:vmSshSourceRanges[0]: '203.0.113.0/ 24' is not a CIDR"),
    ({"vmSshSourceRanges": ["203.0.113.7/24"]}, "kedge:vmSshSourceRanges[0]: '203.0.113.7/24' is not a CIDR"),
])
def test_cluster_ranges_are_parsed_and_required_where_kedge_cannot_know_them(values, problem):
    problems = problems_of({"devices": [{"id": "a"}], **values})
    assert any(p.startswith(problem) for p in problems), problems


def _ssh_key(key_type="ssh-ed25519"):
    return fake_ssh_public_key("ops@site", key_type)


@pytest.mark.parametrize("key", [
    _ssh_key() + "\nssh-ed25519 AAAAinjected other",  # a newline would make two authorized_keys lines
    "ssh-ed25519 not-base64 ops",
    _ssh_key().replace("ssh-ed25519 ", "ssh-rsa ", 1),  # the blob names another type
    "ssh-dss AAAAB3NzaC1kc3M= old",
])
def test_an_ssh_key_must_be_one_parseable_line(key):
    (problem,) = problems_of({"devices": [{"id": "a"}], "sshAuthorizedKeys": [key]})
    assert problem.startswith("kedge:sshAuthorizedKeys[0]: is not one OpenSSH public key on one line")


def test_a_real_looking_ssh_key_passes():
    from tests.config.test_settings import DictSource
    from kedge.config.settings import load_settings

    settings = load_settings(DictSource({"devices": [{"id": "a"}], "sshAuthorizedKeys": [_ssh_key()]}), "kedge", "test")
    assert settings.ssh_authorized_keys == (_ssh_key(),)


DIND_IMAGE = "contoso.azurecr.io/iotedge-dind:1.6.0-1"
MODULE = {"name": "filter", "image": "contoso.azurecr.io/filter:2.1.0"}


def deployment(**changes):
    return {"id": "base", "targetCondition": "tags.site='lab'", "priority": 1, "modules": [MODULE], **changes}


# The inputs an adversarial review found accepted (or crashing with a traceback); each is now
# refused at preview with its key named.
@pytest.mark.parametrize("values, key", [
    ({"devices": [{"id": "edge-1\n"}]}, "kedge:devices[0].id"),
    ({"devices": [{"id": "a", "macAddress": "02:00:00:00:00:01\n"}]}, "kedge:devices[0].macAddress"),
    ({"devices": [{"id": "a", "memory": "4Gi\n"}]}, "kedge:devices[0].memory"),
    ({"devices": [{"id": "a", "imageUrl": "https://example.org/x.img\n"}]}, "kedge:devices[0].imageUrl"),
    ({"devices": [{"id": "a", "storageClass": "Fast SSD"}]}, "kedge:devices[0].storageClass"),
    ({"devices": [{"id": "a", "storageClass": {"name": "x"}}]}, "kedge:devices[0].storageClass"),
    ({"devices": [{"id": "a", "mode": "dind", "cpuRequest": "-1"}], "dindImage": DIND_IMAGE}, "kedge:devices[0].cpuRequest"),
    ({"devices": [{"id": "a", "mode": "dind"}], "dindImage": "contoso.azurecr.io/iotedge-dind"}, "kedge:dindImage"),
    ({"devices": '[{"id": "a", "tags": {"x": NaN}}]'}, "kedge:devices"),
    ({"devices": "[" * 5000 + "]" * 5000}, "kedge:devices"),
    ({"devices": [{"id": "a"}], "deployments": "[" * 40 + "]" * 40}, "kedge:deployments"),
    ({"devices": [{"id": "a"}], "deployments": [deployment(modules=[{**MODULE, "createOptions": "[" * 5000 + "]" * 5000}])]},
     "kedge:deployments[0].modules[0].createOptions"),
    ({"devices": [{"id": "a"}], "deployments": [deployment(modules=[{**MODULE, "name": "line.filter"}])]},
     "kedge:deployments[0].modules[0].name"),
    ({"devices": [{"id": "a"}], "deployments": [deployment(routes={"r": 'FROM /messages/modules/ghost/outputs/* INTO $upstream'})]},
     "kedge:deployments[0].routes.r"),
    ({"devices": [{"id": "a"}], "deployments": [deployment(targetCondition="site is plant")]}, "kedge:deployments[0].targetCondition"),
])
def test_inputs_that_used_to_slip_through_are_refused_naming_their_key(values, key):
    problems = problems_of(values)
    assert any(p.startswith(f"{key}:") for p in problems), problems


def x509_device(**names):
    return {"devices": [{"id": "gw", "auth": "x509CA", "certificates": {"identityCert": "gwCert", "identityKey": "gwKey", **names}}]}


@pytest.mark.parametrize("secrets, entry, words", [
    ({"gwCert": "gw.cert.pem", "gwKey": fake_pem("PRIVATE KEY", "gw")}, "identityCert", "does not hold a PEM certificate (a file name"),
    ({"gwCert": fake_pem("CERTIFICATE", "gw"), "gwKey": "gw.key.pem"}, "identityKey", "does not hold a PEM private key"),
    ({"gwCert": fake_pem("CERTIFICATE", "gw"), "gwKey": fake_pem("PRIVATE KEY", "other")}, "identityKey",
     "a key that does not belong to kedge:gwCert's certificate"),
])
def test_certificate_secrets_are_parsed_at_preview_and_keys_matched(secrets, entry, words):
    problems = problems_of({**x509_device(), **secrets}, secret=tuple(secrets))
    assert any(p.startswith(f"kedge:devices[0].certificates.{entry}: names kedge:gw") and words in p for p in problems), problems
    assert not any("BEGIN" in p for p in problems)  # never the content


def test_an_expired_certificate_is_refused_with_its_date():
    from tests.harness import fake_certificate

    certificate, key = fake_certificate("expired-gw", expired=True)
    problems = problems_of({**x509_device(), "gwCert": certificate, "gwKey": key}, secret=("gwCert", "gwKey"))
    assert any(p.startswith("kedge:devices[0].certificates.identityCert: names kedge:gwCert, which holds a certificate that expired on ")
               for p in problems), problems


@pytest.mark.parametrize("key", ["allowUnconfinedModules", "hubProtect"])
def test_a_boolean_setting_that_is_not_a_boolean_is_refused(key):
    (problem,) = problems_of({"devices": [{"id": "a"}], key: "maybe"})
    assert problem == f"kedge:{key}: 'maybe' is not a boolean; allowed: true, false"


SAMPLE_DEPLOYMENT = {"id": "base", "targetCondition": "tags.site='lab'", "priority": 1,
                     "modules": [{"name": "m", "image": "reg.example/m:1.0"}]}


def with_module(**module):
    return {"deployments": [{**SAMPLE_DEPLOYMENT, "modules": [{"name": "m", "image": "reg.example/m:1.0", **module}]}]}


@pytest.mark.parametrize("values, secret, key, allowed", [
    ({"devices": [{"id": "a", "tags": {"kedgeOwner": "other/stack"}}]}, (), "kedge:devices[0].tags.kedgeOwner", "any other tag name"),
    (with_module(env={"A": {"value": 1}}), (), "kedge:deployments[0].modules[0].env.A", "a string, number or boolean"),
    ({"deployments": [{**SAMPLE_DEPLOYMENT, "labels": {"a": ["b"]}}]}, (), "kedge:deployments[0].labels.a", "a string, number"),
    ({"httpsProxy": "http://proxy.plant:3128", "httpsProxyAddresses": ["0.0.0.0/0"]}, (), "kedge:httpsProxyAddresses[0]",
     "the CIDRs the proxy answers on"),
    ({"httpsProxy": "http://10.0.0.5:3128", "noProxy": ["0.0.0.0/0"]}, (), "kedge:noProxy[0]", "not every address"),
    ({"httpsProxy": "http://10.0.0.5:3128", "noProxy": ["10.0.0.0/33"]}, (), "kedge:noProxy[0]", "a host, .domain, IP address or CIDR"),
    ({"cluster": "none", "egressRules": [{"cidrs": ["10.1.0.0/24"], "ports": [502]}]}, (), "kedge:egressRules",
     "set it in the site stacks"),
    ({"configTomlExtra": "a = " + "[" * 3000 + "]" * 3000}, (), "kedge:configTomlExtra", "config.toml content"),
    ({"configTomlExtra": "[agent.config.createOptions.HostConfig]\nPrivileged = true\n"}, (), "kedge:configTomlExtra",
     "set kedge:configTomlOverride: true"),
    ({**EXISTING_CLUSTER, "kubeconfig": "/home/me/site-kubeconfig.yaml"}, ("kubeconfig",), "kedge:kubeconfig", "the content"),
    (with_module(image="reg.example/m"), (), "kedge:deployments[0].modules[0].image", "a tag or a digest, not both"),
    (with_module(image="reg.example/m:1.0@sha256:" + "a" * 64), (), "kedge:deployments[0].modules[0].image", "not both"),
    ({"egressRules": [{"cidrs": ["::/0"], "ports": [443]}]}, (), "kedge:egressRules[0]", "allowed: IPv4 ranges"),
    ({"dpsGlobalEndpoint": "https://"}, (), "kedge:dpsGlobalEndpoint", "an https:// URL"),
    ({**EXISTING_CLUSTER, "environment": "production", "clusterDeviceNodes": 3, "deviceStorageReclaimPolicy": "Retain",
      "devices": [{"id": "a"}]}, (), "kedge:nodeRemediationCatalogImage", "kedge:nodeRemediationCatalogTagAccepted: true"),
])
def test_inputs_that_used_to_slip_through_are_refused_naming_the_key(values, secret, key, allowed):
    """Each was accepted (or raised a traceback) before the security review's input pass (issue #27 item 7)."""
    problems = problems_of(values, secret)
    assert [p for p in problems if p.startswith(f"{key}:") and allowed in p], problems
    assert all("site-kubeconfig" not in p for p in problems)  # a kubeconfig setting's value is a secret: never echoed


def test_a_kubeconfig_setting_that_holds_a_kubeconfig_is_accepted():
    kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- name: site\n  cluster: {server: 'https://10.0.0.1:6443'}\n"
    assert load({**EXISTING_CLUSTER, "kubeconfig": kubeconfig}, ("kubeconfig",)).existing_cluster.has_kubeconfig is True


def test_a_remediation_catalog_tag_accepted_by_name_is_a_warning_in_production():
    settings = load({**EXISTING_CLUSTER, **DECLARED_RANGES, "environment": "production", "clusterDeviceNodes": 3,
                     "deviceStorageReclaimPolicy": "Retain", "devices": [{"id": "a"}], "nodeRemediationCatalogTagAccepted": True})
    assert any(n.startswith("kedge:nodeRemediationCatalogImage:") and "accepted by" in n for n in settings.notices)


@pytest.mark.parametrize("cluster, missing", [
    ({**EXISTING_CLUSTER}, ["clusterApiServerCidrs", "clusterServiceCidr", "clusterNodeCidrs"]),
    ({**EXISTING_CLUSTER, "clusterApiServerCidrs": ["192.168.50.0/24"]}, ["clusterServiceCidr", "clusterNodeCidrs"]),
    ({}, ["clusterApiServerCidrs"]),  # AKS: kedge sets the pod range; the API server's address is the stack's to declare
])
def test_undeclared_cluster_ranges_are_refused_in_production_and_warned_elsewhere(cluster, missing):
    """Device egress opens 443/5671/8883 and the plant rules; a range not declared stays reachable on them."""
    stack = {**cluster, "devices": [{"id": "a"}], "clusterDeviceNodes": 3 if cluster else 0, "deviceStorageReclaimPolicy": "Retain"
             if cluster else "", "aksVirtPoolNodeCount": 2, "nodeRemediationCatalogTagAccepted": True}
    stack = {k: v for k, v in stack.items() if v not in (0, "") and not (k == "aksVirtPoolNodeCount" and cluster)}
    (problem,) = problems_of({**stack, "environment": "production"})
    assert problem.startswith(f"kedge:{missing[0]}: is not declared") and f"allowed: declare {', '.join(f'kedge:{m}' for m in missing)}" in problem
    notices = [n for n in load(stack).notices if n.startswith(f"kedge:{missing[0]}: is not declared")]
    assert len(notices) == 1


def test_declared_cluster_ranges_are_closed_to_device_egress_and_only_for_existing_clusters():
    settings = load({**EXISTING_CLUSTER, **DECLARED_RANGES, "devices": [{"id": "a"}]})
    assert settings.device_egress_excluded == ("10.42.0.0/16", "10.43.0.0/16", "192.168.50.0/24")
    (problem,) = problems_of({"clusterServiceCidr": "10.0.0.0/16", "devices": [{"id": "a"}]})
    assert problem.startswith("kedge:clusterServiceCidr: is for an existing cluster")
    # An egress rule into a declared range is refused like one into the pod range.
    problems = problems_of({**EXISTING_CLUSTER, **DECLARED_RANGES, "egressRules": [{"cidrs": ["10.43.1.0/24"], "ports": [443]}]})
    assert any("lies inside 10.43.0.0/16" in p for p in problems)


def test_taking_over_another_stacks_identity_names_its_owner_and_needs_adoption():
    settings = load({"devices": [{"id": "a", "adoptExisting": True, "adoptReplacesOwner": "organization/kedge/old-site"}]})
    assert settings.devices[0].identity.adopt_replaces_owner == "organization/kedge/old-site"
    (problem,) = problems_of({"devices": [{"id": "a", "adoptReplacesOwner": "organization/kedge/old-site"}]})
    assert problem.startswith("kedge:devices[0].adoptReplacesOwner: takes over another stack's identity")
    (problem,) = problems_of({"devices": [{"id": "a", "adoptExisting": True, "adoptReplacesOwner": ""}]})
    assert problem.startswith("kedge:devices[0].adoptReplacesOwner: '' is not allowed")


@pytest.mark.parametrize("vms, nodes, expected", [
    (2, 1, None),  # 2 x (4Gi + 280Mi) = 8,752 Mi: under 75 % of 16 GiB less 100 Mi
    (3, 1, "may not all start"),  # 13,128 Mi: over what surely fits, under what could
    (4, 1, "more than the nodes can hold"),  # 17,504 Mi: over 16 GiB less AKS's smallest reservations
    (4, 2, None),
])
def test_aks_pools_are_checked_against_what_their_nodes_can_hold(vms, nodes, expected):
    """AKS reserves min(20 MB x maxPods + 50 MB, 25 %) and evicts below 100 Mi (AKS docs); kedge sets no maxPods."""
    values = {"devices": [{"id": f"vm-{i}"} for i in range(vms)], "aksVirtPoolNodeCount": nodes}
    notices = [n for n in load(values).notices if n.startswith("kedge:aksVirtPoolNodeCount: its devices request")]
    if expected is None:
        assert notices == []
    else:
        (notice,) = notices
        assert expected in notice and "on %d x Standard_D4s_v5 (16 GiB each)" % nodes in notice
    if expected == "more than the nodes can hold":
        problems = problems_of({**values, "environment": "production", "clusterApiServerCidrs": ["20.50.1.10/32"],
                                "nodeRemediationCatalogTagAccepted": True})
        assert any(p.startswith("kedge:aksVirtPoolNodeCount: its devices request 17504 Mi") for p in problems)


def test_a_size_whose_memory_kedge_does_not_know_is_not_guessed():
    values = {"devices": [{"id": f"vm-{i}"} for i in range(8)], "aksVirtPoolVmSize": "Standard_E4s_v5"}
    assert not [n for n in load(values).notices if "its devices request" in n]

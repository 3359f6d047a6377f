"""Every secret an example stack is given (registry passwords, certificates, keys, kubeconfigs)
appears in the program's resources only under a secret path: never in a plain input, where it
would be written to Pulumi's state and shown in previews."""

import pytest

from tests.harness import TEST_SECRETS, example_stacks, fake_key, load_stack_config, needs_secret, run_example_stack


def plain_strings(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from plain_strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from plain_strings(item, f"{path}.{index}" if path else str(index))
    elif isinstance(value, str):
        yield path, value


def under_secret(path, secret_paths):
    return "<root>" in secret_paths or any(path == s or path.startswith(s + ".") for s in secret_paths)


@pytest.mark.parametrize("stack", example_stacks())
def test_no_secret_the_stack_is_given_appears_outside_a_secret(stack):
    config = load_stack_config(stack)
    given = {key: TEST_SECRETS[key] for key in TEST_SECRETS if needs_secret(config, key)}
    # The distinctive part of each value: a PEM's body line, a password, a kubeconfig's key data.
    needles = {key: max(value.splitlines(), key=len) for key, value in given.items()}
    run = run_example_stack(stack)
    # And what the program is handed by Azure, not the stack: a monitoring workspace's shared keys
    # (the mocked getSharedKeys answers them), which reach the base deployments' collector.
    for token, args in run.invokes:
        if token == "azure-native:operationalinsights:getSharedKeys":
            workspace = f"workspace/{args['resourceGroupName']}/{args['workspaceName']}"
            needles.update({f"{workspace} primary": fake_key(f"{workspace}/1"), f"{workspace} secondary": fake_key(f"{workspace}/2")})
    leaks = [(resource.type, resource.name, path, key)
             for resource in run.resources
             for path, text in plain_strings(resource.inputs)
             if not under_secret(path, resource.secret_paths)
             for key, needle in needles.items() if needle in text]
    assert leaks == []
    assert given or stack in ("dev-dind",)  # every other example stack is given some secret to check
    if stack == "hub":  # monitoring is on there: its workspace key is among the needles, and used
        assert any("workspace/" in key for key in needles)
        assert any(needle in text for r in run.resources for _, text in plain_strings(r.inputs)
                   for key, needle in needles.items() if "workspace/" in key)


def test_the_check_finds_a_secret_placed_in_a_plain_input():
    # A stand-in resource holding a PEM line in plain text, as the test above would see it.
    needle = max(TEST_SECRETS["siteRootCa"].splitlines(), key=len)
    inputs = {"data": {"ca.pem": f"-----BEGIN CERTIFICATE-----\n{needle}\n"}}
    assert [p for p, text in plain_strings(inputs) if needle in text and not under_secret(p, set())] == ["data.ca.pem"]
    assert not [p for p, text in plain_strings(inputs) if needle in text and not under_secret(p, {"data"})]

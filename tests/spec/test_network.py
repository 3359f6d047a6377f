"""Egress rules as the settings and EdgeNamespace both check them."""

import pytest

from kedge.spec.network import egress_rule_problem


@pytest.mark.parametrize("rule, words", [
    ({"cidrs": ["10.20.30.0/24"], "ports": [4840]}, None),
    ({"cidrs": ["10.20.30.0/24"], "ports": [4840], "protocol": "UDP"}, None),
    ({"cidrs": ["::/0"], "ports": [443]}, "IPv6 range"),
    ({"cidrs": ["169.254.169.254/32"], "ports": [80]}, "lies inside 169.254.169.254/32"),
    ({"cidrs": ["10.42.1.0/24"], "ports": [443]}, "lies inside 10.42.0.0/16"),
    ({"cidrs": ["10.20.30.0/24"], "ports": [0]}, "is not a port"),
    ({"cidrs": ["10.20.30.0/24"], "ports": [True]}, "is not a port"),
    ({"cidrs": ["10.20.30.0/24"], "ports": [443], "protocol": "ICMP"}, "protocol"),
    ({"cidrs": [], "ports": [443]}, "at least one CIDR"),
    ({"cidrs": ["10.20.30.0/24"], "ports": [443], "host": "x"}, "only cidrs, ports and protocol"),
    ("10.0.0.0/8", "a map with cidrs"),
])
def test_egress_rules(rule, words):
    problem = egress_rule_problem(rule, ("10.42.0.0/16",))
    assert problem is None if words is None else words in problem


def test_a_malformed_exclusion_is_skipped_not_a_traceback():
    """It is reported where it is read (the settings); the rule check must not crash on it."""
    assert egress_rule_problem({"cidrs": ["10.20.30.0/24"], "ports": [443]}, ("10.42.0.0/33",)) is None

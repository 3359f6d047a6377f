"""The value rules settings and components share: each returns what is allowed, or None."""

import pytest

from kedge.spec.rules import IMAGE_REFERENCE, every, ip_network, ipv4_network, matches, one_of, parse_network, quantity, whole_number


@pytest.mark.parametrize("value, ok", [
    ("10.0.0.0/8", True), ("10.0.0.1/8", False), ("999.1.1.1/24", False), ("10.0.0.0/33", False), ("10.0.0.0 /8", False),
    ("10.0.0.0/ 8", False), ("fd00::/8", True), ("10.0.0.0", False), (None, False), (8, False),
])
def test_networks_are_parsed_not_pattern_matched(value, ok):
    assert (parse_network(value) is not None) is ok


def test_ipv4_ranges_refuse_ipv6_and_any_range_takes_both():
    assert ipv4_network("fd00::/8") and ipv4_network("10.0.0.0/8") is None
    assert ip_network("fd00::/8") is None and ip_network("10.0.0.1/8")


@pytest.mark.parametrize("value, ok", [(1, True), (64, True), (0, False), (65, False), (True, False), ("8", False), (8.0, False)])
def test_whole_numbers_are_ints_in_range_and_not_booleans(value, ok):
    assert (whole_number(1, 64)(value) is None) is ok


@pytest.mark.parametrize("value, ok", [("1Gi", True), ("1024Mi", True), ("1023Mi", False), ("4GB", False), ("-1Gi", False), ("0", False)])
def test_quantities_are_kubernetes_quantities_above_their_minimum(value, ok):
    assert (quantity("1Gi")(value) is None) is ok


def test_lists_report_the_first_bad_item_and_refuse_a_non_list():
    rule = every(one_of("a", "b"))
    assert rule(["a", "b"]) is None and rule(["a", "c"]) == "a list of a, b" and rule("a") == "a list"


@pytest.mark.parametrize("image, ok", [
    ("reg.example/m:1.0", True), ("reg.example/m@sha256:" + "a" * 64, True), ("reg.example:5000/m:1", True),
    ("reg.example/m", False), ("Reg.Example/m:1", False),
])
def test_image_references_need_a_tag_or_a_digest(image, ok):
    assert (IMAGE_REFERENCE(image) is None) is ok


def test_a_pattern_rule_matches_whole_strings_only():
    rule = matches(r"v\d+", "a tag such as v1")
    assert rule("v1") is None and rule("v1x") == "a tag such as v1" and rule(1) == "a tag such as v1"

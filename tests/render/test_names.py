"""Kubernetes names and MAC addresses derived from device ids."""

import hashlib
import re

import pytest

from kedge.render.names import KUBERNETES_NAME_MAX, derived_mac_address, kubernetes_name


@pytest.mark.parametrize("device_id", ["edge-1", "a", "gateway-0042"])
def test_dns_label_ids_are_kept(device_id):
    assert kubernetes_name(device_id) == device_id


@pytest.mark.parametrize("device_id", ["Edge.1", "edge_1", "1st-floor", "x" * 41, "$$$", "Site-A:Line(1)"])
def test_other_ids_map_to_a_hashed_dns_label(device_id):
    name = kubernetes_name(device_id)
    assert name != device_id
    assert len(name) <= 40
    assert name[0].isalpha() and name[-1].isalnum()
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert kubernetes_name(device_id) == name  # deterministic


def test_ids_differing_in_case_or_punctuation_get_distinct_names():
    ids = ["Edge.1", "edge.1", "EDGE-1", "edge_1"]
    assert len({kubernetes_name(i) for i in ids}) == len(ids)
    assert "edge-1" not in {kubernetes_name(i) for i in ids if i != "edge-1"}


@pytest.mark.parametrize("device_id, name", [
    ("Edge.1", "edge-1"),  # lowered, punctuation to '-'
    ("Site-A:Line(1)", "site-a-line-1"),  # runs of punctuation become one '-', none left at the end
    ("1st-floor", "d-1st-floor"),  # a DNS-1035 label starts with a letter
    ("$$$", "d"),  # nothing left: the prefix alone
])
def test_a_cleaned_id_keeps_what_it_can_read_and_ends_with_the_ids_hash(device_id, name):
    digest = hashlib.sha256(device_id.encode()).hexdigest()[:8]
    assert kubernetes_name(device_id) == f"{name}-{digest}"


def test_a_long_id_is_cut_to_leave_room_for_the_hash_and_never_ends_in_a_dash():
    assert len(kubernetes_name("x" * 41)) == KUBERNETES_NAME_MAX
    name = kubernetes_name("a" * 30 + "-" + "b" * 30)  # the cut falls right after the dash
    assert name == "a" * 30 + "-" + hashlib.sha256(("a" * 30 + "-" + "b" * 30).encode()).hexdigest()[:8]
    assert kubernetes_name("y" * KUBERNETES_NAME_MAX) == "y" * KUBERNETES_NAME_MAX  # a label at the limit is kept


def test_derived_macs_are_stable_unicast_and_locally_administered():
    mac = derived_mac_address("edge-1")
    assert mac == derived_mac_address("edge-1") != derived_mac_address("edge-2")
    first = int(mac[:2], 16)
    assert first & 0b01 == 0 and first & 0b10 == 0b10


def test_a_derived_mac_is_six_octets_from_the_ids_hash():
    mac = derived_mac_address("edge-1")
    assert re.fullmatch(r"02(:[0-9a-f]{2}){5}", mac)
    assert mac[3:] == ":".join(f"{b:02x}" for b in hashlib.sha256(b"kedge-mac:edge-1").digest()[:5])

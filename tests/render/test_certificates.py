"""What is wrong with a PEM a device's secret holds, and whether a key belongs to a certificate."""

from datetime import datetime, timezone

from cryptography.hazmat.primitives import serialization

from kedge.render.certificates import certificate_problem, key_matches_certificate, private_key_problem
from tests.harness import fake_certificate, fake_pem

CERTIFICATE, KEY = fake_certificate("gateway")  # valid from 2026-01-01 to 2046-01-01
EXPIRED, _ = fake_certificate("old-gateway", expired=True)  # expired on 2021-01-01


def test_a_valid_certificate_or_chain_has_no_problem():
    assert certificate_problem(CERTIFICATE) is None
    assert certificate_problem(CERTIFICATE + fake_pem("CERTIFICATE", "root")) is None


def test_what_is_not_a_pem_certificate_says_so_and_how_to_set_one():
    for text in ("gateway.cert.pem", KEY, ""):
        assert certificate_problem(text) == ("does not hold a PEM certificate (a file name instead of its content? "
                                             "use `pulumi config set --secret <key> < file.pem`)")


def test_an_expired_certificate_anywhere_in_a_chain_is_named_with_its_date():
    expected = "holds a certificate that expired on 2021-01-01 (CN=old-gateway)"
    assert certificate_problem(EXPIRED) == expected
    assert certificate_problem(CERTIFICATE + EXPIRED) == expected


def test_expiry_is_judged_at_the_moment_given():
    assert certificate_problem(EXPIRED, now=datetime(2020, 6, 1, tzinfo=timezone.utc)) is None
    assert certificate_problem(CERTIFICATE, now=datetime(2046, 1, 2, tzinfo=timezone.utc)) == (
        "holds a certificate that expired on 2046-01-01 (CN=gateway)")


def test_an_unencrypted_private_key_has_no_problem_and_an_encrypted_one_is_refused():
    assert private_key_problem(KEY) is None
    key = serialization.load_pem_private_key(KEY.encode(), password=None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"passphrase")).decode()
    assert private_key_problem(encrypted) == "holds an encrypted private key; allowed: an unencrypted PEM key (IoT Edge cannot decrypt it)"


def test_what_is_not_a_pem_private_key_says_so():
    for text in ("gateway.key.pem", CERTIFICATE, "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n"):
        assert private_key_problem(text).startswith("does not hold a PEM private key (a file name instead of its content?")


def test_a_key_matches_only_its_own_certificate():
    assert key_matches_certificate(KEY, CERTIFICATE)
    assert not key_matches_certificate(fake_pem("PRIVATE KEY", "other"), CERTIFICATE)
    # Against a chain, the first certificate is the one the key must belong to.
    assert key_matches_certificate(KEY, CERTIFICATE + EXPIRED) and not key_matches_certificate(KEY, EXPIRED + CERTIFICATE)


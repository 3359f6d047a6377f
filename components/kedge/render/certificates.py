"""What is wrong with a PEM a device's secret holds, found before anything is created. Pure.

Messages name the problem, never the content: they end up in the preview's output.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization

NOT_PEM_HINT = "(a file name instead of its content? use `pulumi config set --secret <key> < file.pem`)"


def certificate_problem(text: str, now: Optional[datetime] = None) -> Optional[str]:
    """None when `text` holds one or more X.509 certificates in PEM, none of them expired."""
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        return f"does not hold a PEM certificate {NOT_PEM_HINT}"
    moment = now or datetime.now(timezone.utc)
    for certificate in certificates:
        if certificate.not_valid_after_utc < moment:
            return f"holds a certificate that expired on {certificate.not_valid_after_utc:%Y-%m-%d} ({certificate.subject.rfc4514_string()})"
    return None


def private_key_problem(text: str) -> Optional[str]:
    """None when `text` holds an unencrypted private key in PEM (IoT Edge reads it as is)."""
    try:
        serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError:
        return "holds an encrypted private key; allowed: an unencrypted PEM key (IoT Edge cannot decrypt it)"
    except (ValueError, Exception):  # noqa: BLE001 - cryptography raises several types for bad input
        return f"does not hold a PEM private key {NOT_PEM_HINT}"
    return None


def key_matches_certificate(key_text: str, certificate_text: str) -> bool:
    """Whether the private key belongs to the (first) certificate."""
    key = serialization.load_pem_private_key(key_text.encode(), password=None)
    certificate = x509.load_pem_x509_certificates(certificate_text.encode())[0]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(
        key.public_key().public_bytes(serialization.Encoding.DER, spki)
        == certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
    )

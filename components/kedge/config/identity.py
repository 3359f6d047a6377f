"""Device identity settings: authentication, provisioning, certificates and secret key names. Pure: no Pulumi."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..render.certificates import certificate_problem, key_matches_certificate, private_key_problem
from ..choices import (
    as_choice, IdentityAuth,
    ProvisioningSource,
)
from .reader import DEFAULTS, OBJECT_KEYS, Reader


# Entries of a device's `certificates`: each names a secret stack config key holding a PEM.
CERTIFICATE_ENTRIES = ("identityCert", "identityKey", "edgeCaCert", "edgeCaKey", "trustBundle")


SECRET_KEY_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")


@dataclass(frozen=True)
class CertificateKeys:
    """Names of the secret stack config keys that hold a device's PEM files (None: not used)."""

    identity_cert: Optional[str] = None
    identity_key: Optional[str] = None
    edge_ca_cert: Optional[str] = None
    edge_ca_key: Optional[str] = None
    trust_bundle: Optional[str] = None

    def named(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass(frozen=True)
class IdentitySettings:
    auth: IdentityAuth
    provisioning: ProvisioningSource
    adopt_existing: bool
    enabled: bool
    certificates: CertificateKeys
    dps_symmetric_key_secret: Optional[str] = None
    # With adopt_existing: the other stack's kedgeOwner whose identity this stack may take over.
    adopt_replaces_owner: Optional[str] = None


def read_secret_key_name(r: Reader, key: str, name: Any) -> Optional[str]:
    """A device field that names a secret stack config key: the key must be set, as a secret."""
    if not isinstance(name, str) or not SECRET_KEY_NAME_PATTERN.fullmatch(name):
        r.problem(key, f"{name!r} is not allowed; allowed: the name of a stack config key set with --secret, e.g. edge1IdentityCert")
        return None
    if name in DEFAULTS or name in OBJECT_KEYS:
        r.problem(key, f"{name!r} is a kedge setting; allowed: a key of its own, e.g. {name}Pem")
        return None
    if not r.source.get(name):
        r.problem(key, f"names kedge:{name}, which is not set; allowed: set it with `pulumi config set --secret {name} ...` "
                       f"(a file's content: `< file`)")
    elif not r.source.is_secret(name):
        r.problem(key, f"names kedge:{name}, which is stored in plain text; allowed: a secret (pulumi config set --secret {name} ...)")
    return name


CERTIFICATE_PAIRS = (("identityKey", "identityCert"), ("edgeCaKey", "edgeCaCert"))


def _check_pems(r: Reader, key: str, names: Mapping[str, Optional[str]]) -> None:
    """Each named secret parsed as what its entry says it is, and each key against its certificate."""
    usable = {}
    for entry, name in names.items():
        text = r.secret_content(name) if name else None
        if not text:
            continue  # unset: reported by read_secret_key_name
        problem = private_key_problem(text) if entry.endswith("Key") else certificate_problem(text)
        if problem:
            r.problem(f"{key}.certificates.{entry}", f"names kedge:{name}, which {problem}")
        else:
            usable[entry] = text
    for key_entry, cert_entry in CERTIFICATE_PAIRS:
        if key_entry in usable and cert_entry in usable and not key_matches_certificate(usable[key_entry], usable[cert_entry]):
            r.problem(f"{key}.certificates.{key_entry}", f"names kedge:{names[key_entry]}, a key that does not belong to "
                                                         f"kedge:{names[cert_entry]}'s certificate; allowed: the certificate's own key")


def read_identity(r: Reader, key: str, raw: dict) -> IdentitySettings:
    auth = as_choice(raw.get("auth", IdentityAuth.SYMMETRIC_KEY.value), IdentityAuth, f"{key}.auth", r.problems, IdentityAuth.SYMMETRIC_KEY.value)
    provisioning = as_choice(
        raw.get("provisioning", ProvisioningSource.MANUAL.value), ProvisioningSource, f"{key}.provisioning", r.problems, "manual"
    )
    adopt = raw.get("adoptExisting", False)
    if not isinstance(adopt, bool):
        r.problem(f"{key}.adoptExisting", f"{adopt!r} is not allowed; allowed: true, false")
        adopt = False
    replaces = raw.get("adoptReplacesOwner")
    if replaces is not None and (not isinstance(replaces, str) or not replaces.strip()):
        r.problem(f"{key}.adoptReplacesOwner", f"{replaces!r} is not allowed; allowed: the other stack's owner, as its identities' "
                                               "kedgeOwner tag names it (e.g. organization/kedge/old-site)")
        replaces = None
    elif replaces is not None and not adopt:
        r.problem(f"{key}.adoptReplacesOwner", "takes over another stack's identity, which only adoptExisting does; allowed: "
                                               "with adoptExisting: true")
    status = raw.get("status", "enabled")
    if status not in ("enabled", "disabled"):
        r.problem(f"{key}.status", f"{status!r} is not allowed; allowed: enabled, disabled")
    raw_certs = raw.get("certificates", {})
    names: dict[str, Optional[str]] = {}
    if not isinstance(raw_certs, dict):
        r.problem(f"{key}.certificates", f"{raw_certs!r} is not allowed; allowed: a map with {', '.join(CERTIFICATE_ENTRIES)}")
        raw_certs = {}
    for entry, name in raw_certs.items():
        if entry not in CERTIFICATE_ENTRIES:
            r.problem(f"{key}.certificates.{entry}", f"is not a certificate entry; allowed: {', '.join(CERTIFICATE_ENTRIES)}")
        else:
            names[entry] = read_secret_key_name(r, f"{key}.certificates.{entry}", name)
    certificates = CertificateKeys(
        identity_cert=names.get("identityCert"), identity_key=names.get("identityKey"),
        edge_ca_cert=names.get("edgeCaCert"), edge_ca_key=names.get("edgeCaKey"), trust_bundle=names.get("trustBundle"),
    )
    if auth is not IdentityAuth.SYMMETRIC_KEY:
        for entry in ("identityCert", "identityKey"):
            if entry not in raw_certs:
                r.problem(f"{key}.certificates.{entry}", f"is required with auth {auth.value}; allowed: the name of a secret stack config key holding the PEM")
    elif "identityCert" in raw_certs or "identityKey" in raw_certs:
        r.problem(f"{key}.certificates", "identityCert/identityKey apply to X.509 auth only; allowed: auth: x509SelfSigned or x509CA")
    if ("edgeCaCert" in raw_certs) != ("edgeCaKey" in raw_certs):
        r.problem(f"{key}.certificates", "edgeCaCert and edgeCaKey go together; allowed: both or neither")
    _check_pems(r, key, names)
    dps_key = None
    if provisioning is ProvisioningSource.DPS:
        if adopt:
            r.problem(f"{key}.adoptExisting", "applies to manual provisioning only; with dps the Device Provisioning Service owns the identity")
        if auth is IdentityAuth.SYMMETRIC_KEY:
            if "dpsSymmetricKeySecret" not in raw:
                r.problem(f"{key}.dpsSymmetricKeySecret", "is required with provisioning dps and auth symmetricKey; allowed: the name of a secret stack config key holding the enrollment's device key")
            else:
                dps_key = read_secret_key_name(r, f"{key}.dpsSymmetricKeySecret", raw["dpsSymmetricKeySecret"])
    elif "dpsSymmetricKeySecret" in raw:
        r.problem(f"{key}.dpsSymmetricKeySecret", "applies to provisioning dps only")
    return IdentitySettings(
        auth=auth, provisioning=provisioning, adopt_existing=adopt, enabled=status != "disabled",
        certificates=certificates, dps_symmetric_key_secret=dps_key, adopt_replaces_owner=replaces,
    )

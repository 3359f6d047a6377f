"""The schema pins: every file the tests read is pinned, the pins match, the fetcher refuses a mismatch."""

import io
import os

import pytest

from tests import schemas
from tests.validators import CDI_SWAGGER, KUBEVIRT_SWAGGER, SCHEMAS_DIR, require_file


def test_the_swagger_files_the_validators_read_are_pinned():
    for path in (KUBEVIRT_SWAGGER, CDI_SWAGGER):
        assert str(path.relative_to(SCHEMAS_DIR)) in schemas.BY_PATH


@pytest.mark.parametrize("pin", schemas.PINNED, ids=lambda p: p.path)
def test_the_local_copy_matches_its_pin(pin):
    schemas.check(require_file(SCHEMAS_DIR / pin.path), pin)


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_fetch_writes_only_files_whose_sha256_matches(tmp_path):
    source = {pin.url: (SCHEMAS_DIR / pin.path) for pin in schemas.PINNED}
    for path in source.values():
        require_file(path)
    written = schemas.fetch(tmp_path, opener=lambda url, timeout: FakeResponse(source[url].read_bytes()))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(p.path for p in schemas.PINNED)
    assert schemas.fetch(tmp_path, opener=None) == []  # all present and matching: nothing fetched again


def test_fetch_refuses_a_changed_upstream_file(tmp_path):
    with pytest.raises(ValueError, match="is not the pinned"):
        schemas.fetch(tmp_path, opener=lambda url, timeout: FakeResponse(b"{}"))
    assert not any(tmp_path.rglob("*.json"))


def test_the_schemas_dir_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KEDGE_SCHEMAS_DIR", str(tmp_path))
    assert schemas.schemas_dir() == tmp_path
    monkeypatch.delenv("KEDGE_SCHEMAS_DIR")
    assert schemas.schemas_dir() in (schemas.SHARED_DIR, schemas.FETCHED_DIR)
    assert os.path.isabs(schemas.schemas_dir())


def test_fetching_offline_says_so_plainly_instead_of_a_traceback(tmp_path, capsys):
    import urllib.error

    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    assert schemas.main(tmp_path, offline) == 1
    err = capsys.readouterr().err
    assert err.startswith("could not fetch the pinned schemas (") and "../shared/schemas" in err and "Traceback" not in err

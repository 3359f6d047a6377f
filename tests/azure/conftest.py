import pytest

from tests.fake_iothub import FakeIotHub


@pytest.fixture
def hub():
    """A local fake IoT Hub registry, fresh for each test."""
    with FakeIotHub() as server:
        yield server

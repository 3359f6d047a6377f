"""How the helpers wait between retries: exponential backoff with full jitter, and Retry-After."""

import random

import pytest

from kedge.backoff import jittered_delay, retry_after


@pytest.mark.parametrize("attempt, ceiling", [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (40, 30.0)])
def test_the_delay_is_drawn_between_zero_and_a_doubling_ceiling_up_to_the_cap(monkeypatch, attempt, ceiling):
    drawn = []
    monkeypatch.setattr(random, "uniform", lambda low, high: drawn.append((low, high)) or high)
    assert jittered_delay(attempt, base=0.5, cap=30.0) == ceiling
    assert drawn == [(0, ceiling)]  # full jitter: anywhere from nothing to the ceiling


def test_the_doubling_stops_growing_after_sixteen_steps():
    assert jittered_delay(10_000, base=1e-6, cap=1e9) <= 1e-6 * 2 ** 16  # no overflow, however long a helper retries


def test_delays_really_spread_out():
    delays = {jittered_delay(5, base=0.5, cap=30.0) for _ in range(50)}
    assert len(delays) > 40 and all(0 <= d <= 8.0 for d in delays)


@pytest.mark.parametrize("headers, seconds", [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after": " 3 "}, 3.0),  # any case, surrounding spaces
    ({"RETRY-AFTER": 12}, 12.0),
    ({"Retry-After": "120"}, 30.0),  # capped
    ({"Retry-After": "0"}, 0.0),
    ({"Retry-After": "1.5"}, None),  # not whole seconds: left to the backoff
    ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
    ({"Content-Type": "application/json"}, None),
    ({}, None),
])
def test_retry_after_is_whole_seconds_capped_or_none(headers, seconds):
    assert retry_after(headers, cap=30.0) == seconds

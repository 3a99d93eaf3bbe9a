"""Benchmark 1's fake QEMU display (tests/fakes/display_peer.py, streaming from a child
process) against the real DisplayClient: the handshake completes and frames arrive intact
on both paths.  Guards the benchmark from measuring a peer that no longer speaks the protocol."""

from __future__ import annotations

import pytest

from benchmarks.frame_path import measure


@pytest.mark.parametrize("transport", ["shm", "inline"])
def test_client_receives_every_update_from_the_fake_peer(transport):
    # measure() raises unless every message sent was published, and (inline) unless
    # the last patch landed in the client's framebuffer where the peer put it.
    result = measure(transport, (320, 200), (64, 32), rate=200, seconds=0.5)
    assert result["transport"] == transport
    assert result["p50_ms"] > 0

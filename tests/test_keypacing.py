"""The one key-pacing mechanism: order, spacing, completion and failure of key batches."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest

from geometry_os.keypacing import KeyPacer


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_events_go_out_in_order_and_spaced(loop):
    sent: list[tuple[bool, int, float]] = []
    pacer = KeyPacer(loop, lambda pressed, qnum: sent.append((pressed, qnum, time.monotonic())), interval=0.02)
    pacer.press(0x1E)  # live keys and a batch share one queue
    done = pacer.send([(True, 0x2A), (True, 0x10), (False, 0x10), (False, 0x2A)])
    pacer.release(0x1E)
    done.result(5)
    assert [(p, q) for p, q, _ in sent][:5] == [(True, 0x1E), (True, 0x2A), (True, 0x10), (False, 0x10), (False, 0x2A)]
    gaps = [b[2] - a[2] for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.018  # a timer may fire a little early, never a whole interval
    deadline = time.monotonic() + 5
    while len(sent) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent[-1][:2] == (False, 0x1E)


def test_an_empty_batch_is_done_at_once(loop):
    assert KeyPacer(loop, lambda p, q: None).send([]).result(1) is None


def test_a_failing_send_fails_its_batch_and_the_queue_goes_on(loop):
    sent: list[int] = []

    def send(pressed: bool, qnum: int) -> None:
        if qnum == 0x99:
            raise ConnectionError("display gone")
        sent.append(qnum)

    pacer = KeyPacer(loop, send, interval=0.001)
    bad = pacer.send([(True, 0x99)])
    good = pacer.send([(True, 0x01), (False, 0x01)])
    with pytest.raises(ConnectionError, match="display gone"):
        bad.result(5)
    good.result(5)
    assert sent == [0x01, 0x01]


def test_closing_fails_what_is_still_queued(loop):
    pacer = KeyPacer(loop, lambda p, q: None, interval=10.0)
    first = pacer.send([(True, 1)])
    first.result(5)  # sent at once; the next one waits 10 s
    waiting = pacer.send([(True, 2), (False, 2)])
    loop.call_soon_threadsafe(pacer.close, "the VM stopped")
    with pytest.raises(ConnectionError, match="the VM stopped"):
        waiting.result(5)
    with pytest.raises(ConnectionError):
        pacer.send([(True, 3)]).result(5)

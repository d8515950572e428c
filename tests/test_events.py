"""The run's event stream: its order, a stop request, and a failure's one line."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from nst.errors import NstError
from nst.events import Failed, Finished, Progress, ScaleDone, Started, Stopped
from nst.options.config import make_config
from nst.stylize import StyleTransfer
from tests.helpers import SHALLOW, smooth_image, tiny_weights_file


@pytest.fixture
def transfer(tmp_path, backend_name):
    cfg = make_config(
        size=48, scales=2, iterations=4, print_every=1, weights=str(tiny_weights_file(tmp_path)), **SHALLOW
    )
    return StyleTransfer(cfg, backend_name).prepare(smooth_image(40, 48, 1), [smooth_image(32, 32, 2)])


def test_events_come_in_order_and_match_the_result(transfer):
    events = []
    result = transfer.run(on_event=events.append)
    assert isinstance(events[0], Started) and events[0].sizes == transfer.cfg.scale_sizes
    assert isinstance(events[-1], Finished) and events[-1].stopped is Stopped.COMPLETED
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == list(range(1, events[0].total + 1))
    done = [e for e in events if isinstance(e, ScaleDone)]
    assert [(d.scale, d.size) for d in done] == list(enumerate(transfer.cfg.scale_sizes))
    # Each scale's progress comes before its ScaleDone, and the last image is the result.
    assert events.index(done[0]) < events.index(progress[-1])
    np.testing.assert_array_equal(progress[-1].image(), result.image)
    assert events[-1].steps == result.steps == events[0].total


def test_a_stop_request_keeps_the_current_image(transfer):
    stop = threading.Event()
    images = []

    def on_event(event):
        if isinstance(event, Progress):
            images.append(event.image())
            if event.step == 3:
                stop.set()

    result = transfer.run(on_event=on_event, stop=stop)
    assert result.stopped is Stopped.STOPPED and result.steps == 3
    np.testing.assert_array_equal(result.image, images[-1])


def test_an_error_is_one_failed_event_then_raised(transfer, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise NstError("no room")

    monkeypatch.setattr(transfer.backend, "start", out_of_memory)
    events = []
    with pytest.raises(NstError, match="no room"):
        transfer.run(on_event=events.append)
    assert isinstance(events[-1], Failed) and events[-1].reason == "no room"

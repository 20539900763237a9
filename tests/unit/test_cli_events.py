"""The command line reads the run's Server-Sent Events: data lines up to a blank line are one JSON event."""

from __future__ import annotations

import httpx2

from civicflow_cli.api import _event_data

STREAM = (
    b": the gateway may send comments to keep the connection open\n\n"
    b"event: progress\n"
    b'data: {"status": "running", "progress": {"items_done": 1000, "items_total": 5000}}\n\n'
    b'data: {"instance": {"status": "running",\n'
    b'data:  "progress": {"items_done": 5000, "items_total": 5000}}}\n\n'
    b'data: "not an object"\n\n'
    b'data: {"status": "completed"}\n\n'
)


def test_each_event_is_the_json_of_its_data_lines() -> None:
    response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=STREAM)

    events = list(_event_data(response))

    assert events == [
        {"status": "running", "progress": {"items_done": 1000, "items_total": 5000}},
        {"instance": {"status": "running", "progress": {"items_done": 5000, "items_total": 5000}}},
        {"status": "completed"},
    ]
    assert response.is_closed

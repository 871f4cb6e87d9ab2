"""Server-Sent Events: a parser over the lines of a streaming HTTP response."""
from dataclasses import dataclass
from typing import Iterable, Iterator


@dataclass
class Event:
    event: str
    data: str
    #: The stream's last event id when this event arrived (SSE keeps it across events that carry none).
    id: str


def parse_events(lines: Iterable[str], last_id: str = "") -> Iterator[Event]:
    """Yields the events of a text/event-stream given as decoded lines (without their line ends).

    A block that only moves the id on (or only sets `retry`) yields nothing but updates the id of later events.
    """
    event, data, seen = "message", [], False
    for line in lines:
        if line == "":
            if seen and (data or event != "message"):
                yield Event(event, "\n".join(data), last_id)
            event, data, seen = "message", [], False
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            event, seen = value, True
        elif field == "data":
            data.append(value)
            seen = True
        elif field == "id":
            last_id = value
    if seen and (data or event != "message"):
        yield Event(event, "\n".join(data), last_id)

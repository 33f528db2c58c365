"""One live audio source shared by every listening client: opened by the first listener, closed when the last one leaves.

A reader thread pulls blocks from the source (the microphone, or a replayed
file) through one ``Classifier.stream()`` engine and hands each hop to the
event loop, which copies it into every listener's bounded queue. A listener
too slow to keep up loses its oldest hops, never the server's memory. The
source is opened again, with a fresh engine, when someone listens after
everyone had left.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ser_edge.classifier import Classifier
from ser_edge.stream import Block

#: A server-sent event: its name ("hop" or "stopped") and its JSON data.
Event = tuple[str, dict[str, Any]]
SourceFactory = Callable[[], Iterator[Block]]
QUEUE_EVENTS = 120  # per listener: a minute of hops at the shipped model's 0.5 s


class LiveHub:
    """Fans the hops of one source out to any number of listeners; call ``subscribe``/``unsubscribe`` on the event loop."""

    def __init__(self, classifier: Classifier, open_source: SourceFactory, *, source: str) -> None:
        self.classifier = classifier
        self.open_source = open_source
        self.source = source
        self.opens = 0  # times the source was opened
        self.hops = 0
        self.dropped = 0  # hops a slow listener lost
        self._listeners: set[asyncio.Queue[Event]] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self) -> asyncio.Queue[Event]:
        """A new listener's queue of events; opens the source if nobody was listening."""
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_EVENTS)
        self._listeners.add(queue)
        if not self.running:
            previous, self._stop = self._thread, threading.Event()
            self._thread = threading.Thread(target=self._read, args=(self._stop, previous), name="ser-edge-live", daemon=True)
            self._thread.start()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        """Forget a listener; the source closes when it was the last."""
        self._listeners.discard(queue)
        if not self._listeners:
            self._stop.set()

    @property
    def running(self) -> bool:
        """Whether the source is open (or opening) for listeners."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def status(self) -> dict[str, Any]:
        """What the health endpoint reports about live listening."""
        counts = {"opens": self.opens, "hops": self.hops, "dropped": self.dropped}
        return {"source": self.source, "listeners": len(self._listeners), "running": self.running, **counts}

    def end_listeners(self, reason: str) -> None:
        """Send every listener a last 'stopped' event so their streams end now (server shutdown); safe from any thread or signal handler."""
        self._publish(("stopped", {"error": None, "reason": reason}))

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop reading and wait for the reader thread (server shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _read(self, stop: threading.Event, previous: threading.Thread | None) -> None:
        """Reader thread: the source's blocks through one engine until ``stop``; a failing source ends with a 'stopped' event."""
        if previous is not None:
            previous.join()  # one open source at a time: the last reader closes its device first
        if stop.is_set():
            return
        self.opens += 1
        engine = self.classifier.stream()
        blocks = self.open_source()
        reason: dict[str, Any] = {"error": None, "reason": "the source ended"}
        try:
            for block in blocks:
                if stop.is_set():
                    return
                for hop in engine.push(block):
                    self._publish(("hop", hop.to_dict()))
        except Exception as exc:  # MicrophoneError, an unreadable replay file, a PortAudio failure
            reason = {"error": str(exc), "reason": "the source failed"}
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()  # a generator closes its device now, not when collected
        stop.set()
        self._publish(("stopped", reason))

    def _publish(self, event: Event) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._deliver, event)
            except RuntimeError:  # the loop closed meanwhile (shutdown)
                pass

    def _deliver(self, event: Event) -> None:
        if event[0] == "hop":
            self.hops += 1
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(event)

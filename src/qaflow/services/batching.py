"""Dynamic micro-batching: concurrent questions to one model share one forward pass.

A request thread (or the event loop) submits a question and gets a future. One daemon thread per
model drains the queue: it takes what is waiting, waits at most ``max_wait_s`` for more up to
``max_batch_size``, answers them in one ``Reader.answer`` call, and resolves the futures. Under no
load a question waits only for its own forward pass; under load, batches grow and the model's
throughput, not the request rate, sets the pace.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from qaflow.reader import Answer

AnswerBatch = Callable[[Sequence[str], Sequence[str], int], list[list[Answer]]]


@dataclass(slots=True)
class BatchingStats:
    """Counters of one batcher: how many requests, in how many forward passes."""

    requests: int = 0
    batches: int = 0
    max_batch_size: int = 0

    def record(self, size: int) -> None:
        self.requests += size
        self.batches += 1
        self.max_batch_size = max(self.max_batch_size, size)


@dataclass(slots=True)
class _Request:
    question: str
    context: str
    top_k: int
    future: Future[list[Answer]] = field(default_factory=Future)


class MicroBatcher:
    """Collects concurrent requests for one model and answers them in batches."""

    def __init__(
        self, answer_batch: AnswerBatch, *, max_batch_size: int, max_wait_s: float, name: str
    ) -> None:
        self._answer_batch = answer_batch
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name=f"qaflow-batcher-{name}", daemon=True
        )
        self._closed = False
        self.stats = BatchingStats()
        self._thread.start()

    def submit(self, question: str, context: str, *, top_k: int = 1) -> Future[list[Answer]]:
        if self._closed:
            raise RuntimeError("the micro-batcher is closed")
        request = _Request(question, context, top_k)
        self._queue.put(request)
        return request.future

    def close(self) -> None:
        """Answer what is queued, then stop; waits for the thread (at most 30 s)."""
        self.retire()
        self._thread.join(timeout=30)

    def retire(self) -> None:
        """Take no more requests; the thread answers those queued, then ends. Does not wait."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            self._answer(self._gather(first))

    def _gather(self, first: _Request) -> list[_Request]:
        batch = [first]
        deadline = time.monotonic() + self._max_wait_s
        while len(batch) < self._max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # let _run see the sentinel after this batch
                break
            batch.append(item)
        return batch

    def _answer(self, batch: list[_Request]) -> None:
        self.stats.record(len(batch))
        top_k = max(request.top_k for request in batch)
        try:
            results = self._answer_batch(
                [r.question for r in batch], [r.context for r in batch], top_k
            )
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            # One bad request must not fail the others: answer each alone to isolate it.
            for request in batch:
                self._answer([request])
            return
        for request, answers in zip(batch, results, strict=True):
            request.future.set_result(answers[: request.top_k])

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from qaflow.errors import InvalidInputError
from qaflow.reader import Answer
from qaflow.services.batching import MicroBatcher


class EchoReader:
    """Answers with the question itself; blocks the first call until released."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.release = threading.Event()

    def __call__(
        self, questions: Sequence[str], contexts: Sequence[str], top_k: int
    ) -> list[list[Answer]]:
        self.release.wait(timeout=10)
        self.calls.append(len(questions))
        if any(q == "bad" for q in questions):
            raise InvalidInputError("bad question")
        return [
            [
                Answer(text=f"{q}#{rank}", score=1.0 / (rank + 1), start=0, end=0)
                for rank in range(top_k)
            ]
            for q in questions
        ]


def test_requests_waiting_during_a_forward_pass_are_batched_together() -> None:
    reader = EchoReader()
    batcher = MicroBatcher(reader, max_batch_size=8, max_wait_s=0.0, name="echo")
    try:
        first = batcher.submit("q0", "c")
        rest = [batcher.submit(f"q{i}", "c") for i in range(1, 6)]
        reader.release.set()
        assert first.result(timeout=10)[0].text == "q0#0"
        assert [f.result(timeout=10)[0].text for f in rest] == [f"q{i}#0" for i in range(1, 6)]
    finally:
        batcher.close()
    assert sum(reader.calls) == 6
    assert len(reader.calls) < 6
    assert batcher.stats.requests == 6
    assert batcher.stats.max_batch_size == max(reader.calls)


def test_batches_never_exceed_the_maximum_size() -> None:
    reader = EchoReader()
    batcher = MicroBatcher(reader, max_batch_size=3, max_wait_s=0.05, name="echo")
    try:
        futures = [batcher.submit(f"q{i}", "c") for i in range(10)]
        reader.release.set()
        assert [f.result(timeout=10)[0].text for f in futures] == [f"q{i}#0" for i in range(10)]
    finally:
        batcher.close()
    assert max(reader.calls) <= 3


def test_each_request_gets_its_own_top_k() -> None:
    reader = EchoReader()
    reader.release.set()
    batcher = MicroBatcher(reader, max_batch_size=8, max_wait_s=0.05, name="echo")
    try:
        one = batcher.submit("a", "c", top_k=1)
        three = batcher.submit("b", "c", top_k=3)
        assert len(one.result(timeout=10)) == 1
        assert [a.text for a in three.result(timeout=10)] == ["b#0", "b#1", "b#2"]
    finally:
        batcher.close()


def test_a_failing_request_does_not_fail_its_batch_mates() -> None:
    reader = EchoReader()
    batcher = MicroBatcher(reader, max_batch_size=8, max_wait_s=0.0, name="echo")
    try:
        futures = {q: batcher.submit(q, "c") for q in ["ok1", "bad", "ok2"]}
        reader.release.set()
        assert futures["ok1"].result(timeout=10)[0].text == "ok1#0"
        assert futures["ok2"].result(timeout=10)[0].text == "ok2#0"
        with pytest.raises(InvalidInputError, match="bad question"):
            futures["bad"].result(timeout=10)
    finally:
        batcher.close()


def test_submit_after_close_is_refused() -> None:
    batcher = MicroBatcher(EchoReader(), max_batch_size=2, max_wait_s=0.0, name="echo")
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("q", "c")


def test_a_retired_batcher_answers_what_it_holds_then_stops() -> None:
    reader = EchoReader()
    batcher = MicroBatcher(reader, max_batch_size=2, max_wait_s=0.0, name="echo")
    held = [batcher.submit(f"q{i}", "c") for i in range(5)]

    batcher.retire()  # returns at once, with the first forward pass still blocked

    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("late", "c")
    reader.release.set()
    assert [f.result(timeout=10)[0].text for f in held] == [f"q{i}#0" for i in range(5)]
    batcher.close()
    assert not batcher.running

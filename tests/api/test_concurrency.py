from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.api.conftest import Api

CONTEXT = "Marie Curie won the Nobel Prize in Physics in 1903 and in Chemistry in 1911."


def test_concurrent_requests_share_forward_passes_and_each_gets_its_own_answer(api: Api) -> None:
    questions = [f"Question number {i}: when did she win?" for i in range(24)]

    def ask(question: str) -> dict[str, object]:
        response = api.client.post("/answer", json={"question": question, "context": CONTEXT})
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    with ThreadPoolExecutor(max_workers=24) as pool:
        bodies = list(pool.map(ask, questions))
    assert [body["question"] for body in bodies] == questions
    for body in bodies:
        start, end = body["start"], body["end"]
        assert isinstance(start, int)
        assert isinstance(end, int)
        assert CONTEXT[start:end] == body["answer"]
    stats = api.client.get("/stats").json()["batching"]["tiny"]
    assert stats["requests"] == 24
    assert stats["max_batch_size"] > 1, stats  # at least one forward pass answered several requests
    recording = api.client.get("/stats").json()["recording"]
    assert recording["answers"] == 24
    assert 1 <= recording["commits"] <= 24
    assert 1 <= recording["largest_group"] <= 24
    stored = api.client.get("/answer", params={"start": 0, "end": 4_000_000_000}).json()
    assert sorted(row["question"] for row in stored) == sorted(questions)

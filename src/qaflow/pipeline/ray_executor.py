"""The Ray executor: datums run on Ray actors, each holding its own loaded model.

Connects to the cluster at ``address`` (or ``RAY_ADDRESS``); without either it starts a local
Ray instance of ``workers`` CPUs, no dashboard. Ray is an optional dependency (``qaflow[ray]``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from qaflow.config import Settings
from qaflow.errors import ConfigurationError, TransientError
from qaflow.pipeline.executors import (
    DatumOutcome,
    DatumTask,
    ReaderPool,
    run_datum,
    threads_per_worker,
)
from qaflow.reader import default_onnx_cache_dir
from qaflow.storage import open_store


class DatumActor:
    """One Ray actor: a store and the readers it loaded, kept across datums."""

    def __init__(self, settings: Settings, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self._store = open_store(settings)
        self._readers = ReaderPool(
            onnx_cache_dir=default_onnx_cache_dir(settings),
            threads=threads,
            max_readers=settings.max_loaded_models,
        )

    def run(self, task: DatumTask) -> DatumOutcome:
        return run_datum(task, store=self._store, readers=self._readers)


class RayExecutor:
    """Runs datums on ``workers`` Ray actors."""

    def __init__(self, *, settings: Settings, workers: int, address: str | None = None) -> None:
        ray = _import_ray()
        self._started_ray = False
        if not ray.is_initialized():
            self._start(ray, address or os.environ.get("RAY_ADDRESS"), workers)
        threads = threads_per_worker(settings, workers)
        actor_class = ray.remote(num_cpus=1)(DatumActor)
        self._actors: list[Any] = [actor_class.remote(settings, threads) for _ in range(workers)]

    def map_unordered(self, tasks: Sequence[DatumTask]) -> Iterator[DatumOutcome]:
        from ray.util import ActorPool

        pool: Any = ActorPool(self._actors)
        unfinished = {task.datum_id for task in tasks}
        try:
            for outcome in pool.map_unordered(lambda actor, task: actor.run.remote(task), tasks):
                unfinished.discard(outcome.datum_id)
                yield outcome
        except Exception as exc:  # an actor died or Ray failed: the job retries what was left
            for datum_id in sorted(unfinished):
                yield DatumOutcome(datum_id, error=f"Ray failed: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        ray = _import_ray()
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._started_ray:
            ray.shutdown()

    def _start(self, ray: Any, address: str | None, workers: int) -> None:
        try:
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(
                    address="local",
                    num_cpus=workers,
                    include_dashboard=False,
                    log_to_driver=False,
                )
        except ConnectionError as exc:
            raise TransientError(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
        except Exception as exc:
            where = address or "a local Ray instance"
            raise ConfigurationError(f"cannot start Ray ({where}): {exc}") from exc
        self._started_ray = True


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigurationError("the Ray executor needs Ray: pip install 'qaflow[ray]'") from exc
    return ray

"""The Ray executor: datums run on Ray actors, each holding its own loaded model.

Connects to the cluster at ``address`` (or ``RAY_ADDRESS``); without either it starts a local
Ray instance of ``workers`` CPUs, no dashboard. Ray is an optional dependency (``qaflow[ray]``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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

logger = logging.getLogger(__name__)

# How long actors may take to be placed on the cluster and constructed.
READY_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 5.0


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

    def ready(self) -> bool:
        return True

    def run(self, task: DatumTask) -> DatumOutcome:
        return run_datum(task, store=self._store, readers=self._readers)


class RayExecutor:
    """Runs datums on ``workers`` Ray actors.

    An actor whose process dies (killed, out of memory) is restarted by Ray, and the datum it
    was running is tried once more there, as the local executor reruns a broken pool's datums;
    only a datum whose actor dies again gets an error. Actors the cluster has no room for
    within ``ready_timeout_s`` are given up with a warning, and the others do the work.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        workers: int,
        address: str | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        ray = _import_ray()
        self._started_ray = False
        if not ray.is_initialized():
            self._start(ray, address or os.environ.get("RAY_ADDRESS"), workers)
        threads = threads_per_worker(settings, workers)
        actor_class = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=1)(DatumActor)
        actors = [actor_class.remote(settings, threads) for _ in range(workers)]
        try:
            self._actors: list[Any] = _placed(ray, actors, ready_timeout_s)
        except Exception:
            if self._started_ray:  # else the next try finds a Ray it did not start, for good
                ray.shutdown()
            raise

    def map_unordered(self, tasks: Sequence[DatumTask]) -> Iterator[DatumOutcome]:
        ray = _import_ray()
        waiting = list(reversed(tasks))
        idle = list(self._actors)
        running: dict[Any, tuple[Any, DatumTask]] = {}
        while waiting or running:
            try:
                while idle and waiting:
                    actor, task = idle.pop(), waiting.pop()
                    running[actor.run.remote(task)] = (actor, task)
                [ref], _ = ray.wait(list(running), num_returns=1)
            except Exception as exc:  # Ray itself failed: every datum left gets its error
                left = [task for _, task in running.values()] + waiting
                for task in left:
                    yield DatumOutcome(task.datum_id, error=_ray_failed(exc))
                return
            actor, task = running.pop(ref)
            idle.append(actor)  # a dead one is being restarted by Ray; later calls wait for it
            try:
                outcome: DatumOutcome = ray.get(ref)
            except Exception as exc:  # this datum's actor died twice, or Ray failed it
                outcome = DatumOutcome(task.datum_id, error=_ray_failed(exc))
            yield outcome

    def close(self) -> None:
        ray = _import_ray()
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors = []
        if self._started_ray:
            ray.shutdown()

    def _start(self, ray: Any, address: str | None, workers: int) -> None:
        if address and address not in ("auto", "local"):
            _check_reachable(address)
        try:
            with _own_signal_handlers():
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


def _placed(ray: Any, actors: list[Any], timeout_s: float) -> list[Any]:
    """The actors that started within ``timeout_s``; the others are killed.

    An actor the cluster has no free CPU for stays pending for ever, and a datum handed to it
    would wait with it while its job's heartbeat keeps others from taking over.
    """
    pings = {actor.ready.remote(): actor for actor in actors}
    ready, _ = ray.wait(list(pings), num_returns=len(pings), timeout=timeout_s)
    placed, broken = [], None
    for ref in ready:
        try:
            ray.get(ref)  # an actor whose constructor raised answers at once, with its error
        except Exception as exc:
            broken = exc
        else:
            placed.append(pings[ref])
    for actor in actors:
        if actor not in placed:
            ray.kill(actor, no_restart=True)
    if not placed and broken is not None:
        raise ConfigurationError(
            f"the Ray workers could not start: {_ray_failed(broken)}"
        ) from broken
    if not placed:
        raise TransientError(
            f"no Ray actor started within {timeout_s:.0f} s: the cluster has no free CPU for "
            "qaflow's workers (each takes one)"
        )
    if len(placed) < len(actors):
        logger.warning(
            "only %d of %d Ray actors started within %.0f s (no free CPU for more); "
            "running with %d",
            len(placed),
            len(actors),
            timeout_s,
            len(placed),
        )
    return placed


def _ray_failed(exc: BaseException) -> str:
    return f"Ray failed: {type(exc).__name__}: {exc}"


def _check_reachable(address: str) -> None:
    """Fail in seconds, not never: ``ray.init`` retries an address nobody listens on for ever."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # not host:port; let Ray judge it
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise TransientError(f"cannot reach the Ray cluster at {address}: {reason}") from exc


@contextmanager
def _own_signal_handlers() -> Iterator[None]:
    """Keep the process's SIGTERM/SIGINT handlers: ``ray.init`` replaces them with an exit, and
    a worker stopped that way could not hand its job back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigurationError("the Ray executor needs Ray: pip install 'qaflow[ray]'") from exc
    return ray

"""The pipeline worker: scan the bucket, plan jobs, run them, push answers to SQL; repeat.

Any number of workers (processes, hosts) can run beside each other: jobs are claimed with
compare-and-set updates and the egress is idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import PipelineVersion
from qaflow.errors import ModelLoadError
from qaflow.pipeline import jobs
from qaflow.pipeline.egress import push_answers_to_sql
from qaflow.pipeline.executors import Executor
from qaflow.pipeline.runner import (
    JobProgress,
    ProgressCallback,
    RunPolicy,
    doubling_pause,
    run_job,
)
from qaflow.pipeline.spec import current_versions, follow_model_weights, spec_of
from qaflow.storage import ObjectStore

logger = logging.getLogger(__name__)

# The longest pause between failing passes: outages are noticed within a minute of their end.
MAX_FAILURE_PAUSE_S = 60.0


@dataclass(frozen=True)
class ScanCounts:
    """What a bucket scan did: files committed as uploads, and files it refused (key, why)."""

    committed: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)


Scanner = Callable[[], ScanCounts]
"""Commits the files waiting in the bucket as uploads."""


@dataclass
class RunReport:
    """What one pass did."""

    scanned: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # bucket keys refused, why
    planned: int = 0
    jobs: list[JobProgress] = field(default_factory=list)
    egressed_commits: int = 0
    inserted_rows: int = 0
    egress_failures: dict[str, str] = field(default_factory=dict)  # commit id -> why


class PipelineWorker:
    """One worker: its identity, its executor and when it last scanned and planned."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        store: ObjectStore,
        executor: Executor,
        policy: RunPolicy,
        scanner: Scanner | None = None,
        scan_interval_s: float = 300.0,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.worker_id = jobs.new_worker_id()
        self._sessions = session_factory
        self._store = store
        self._executor = executor
        self._policy = policy
        self._scanner = scanner
        self._scan_interval_s = scan_interval_s
        self._on_progress = on_progress
        self._last_scan: float | None = None
        self._last_plan: dict[int, float] = {}
        self._unreadable: dict[int, str] = {}  # pipeline id -> why its weights could not be read
        # Why passes fail, while they do (run_forever): what /healthz reports.
        self.failing: str | None = None

    def run_once(self, *, force: bool = False, stop: threading.Event | None = None) -> RunReport:
        """One pass: scan (when due, or ``force``), plan, run every claimable job, egress."""
        report = RunReport()
        scan = self._scan(force)
        report.scanned, report.rejected = scan.committed, scan.rejected
        report.planned = self._plan(force)
        while stop is None or not stop.is_set():
            with self._sessions() as session:
                job = jobs.claim_job(
                    session=session, worker_id=self.worker_id, lease_s=self._policy.lease_s
                )
            if job is None:
                break
            report.jobs.append(
                run_job(
                    session_factory=self._sessions,
                    store=self._store,
                    executor=self._executor,
                    job=job,
                    worker_id=self.worker_id,
                    policy=self._policy,
                    on_progress=self._on_progress,
                    stop=stop,
                )
            )
        egress = push_answers_to_sql(session_factory=self._sessions, store=self._store)
        report.egressed_commits = egress.commits
        report.inserted_rows = egress.inserted
        report.egress_failures = egress.failed
        return report

    def run_forever(self, stop: threading.Event) -> None:
        """Pass after pass until ``stop`` is set; a failed pass is logged and retried.

        Failing passes (the database or bucket away) are retried with pauses that double up
        to ``MAX_FAILURE_PAUSE_S``; a failure is logged with its traceback once, and in one
        line while it repeats.
        """
        failures, last = 0, ""
        while not stop.is_set():
            try:
                self.run_once(stop=stop)
            except Exception as exc:
                failures += 1
                pause = failure_pause(self._policy.poll_s, failures)
                last = self.failing = _log_failed_pass(self.worker_id, exc, failures, pause, last)
                stop.wait(pause)
                continue
            if failures:
                logger.info("pipeline worker %s: passes work again", self.worker_id)
            failures, last, self.failing = 0, "", None
            stop.wait(self._policy.poll_s)

    def _scan(self, force: bool) -> ScanCounts:
        if self._scanner is None or not (force or _due(self._last_scan, self._scan_interval_s)):
            return ScanCounts()
        self._last_scan = time.monotonic()
        return self._scanner()

    def _plan(self, force: bool) -> int:
        planned = 0
        with self._sessions() as session:
            for version in current_versions(session=session):
                spec = spec_of(version)
                last = self._last_plan.get(version.id)
                if spec.trigger == "cron" and not force and not _due(last, spec.scan_interval_s):
                    continue
                self._last_plan[version.id] = time.monotonic()
                version = self._follow_model_weights(session, version)
                while batch := len(jobs.plan_jobs(session=session, version=version)):
                    planned += batch
                    if batch < jobs.PLAN_BATCH:
                        break
        return planned

    def _follow_model_weights(self, session: Session, version: PipelineVersion) -> PipelineVersion:
        """The version to plan with: a new one if the weights at the model reference changed.

        Weights that cannot be read are logged (once per reason) and planned for as they are:
        the jobs then fail visibly on loading the model, and nothing is answered with them.
        """
        try:
            followed, created = follow_model_weights(session=session, version=version)
        except ModelLoadError as exc:
            if self._unreadable.get(version.pipeline_id) != exc.message:
                name = spec_of(version).name
                logger.warning("pipeline %s v%d: %s", name, version.version, exc.message)
            self._unreadable[version.pipeline_id] = exc.message
            return version
        self._unreadable.pop(version.pipeline_id, None)
        if created:
            spec = spec_of(followed)
            logger.info(
                "pipeline %s: the weights at %s are now %s: new version v%d for new data "
                "(reprocess reruns old data with it)",
                spec.name,
                spec.model_ref,
                spec.model_revision,
                followed.version,
            )
        return followed


def _due(last: float | None, interval_s: float) -> bool:
    return last is None or time.monotonic() - last >= interval_s


def failure_pause(poll_s: float, failures: int) -> float:
    """The pause after ``failures`` failed passes in a row: doubling, up to a minute."""
    return doubling_pause(poll_s, failures, MAX_FAILURE_PAUSE_S)


def _log_failed_pass(worker_id: str, exc: Exception, failures: int, pause: float, last: str) -> str:
    """Log a failed pass; returns the failure's summary, to tell a repeat from a new failure."""
    summary = f"{type(exc).__name__}: {exc}"[:300]
    if summary != last:
        logger.exception("pipeline worker %s: pass failed; retrying in %.0f s", worker_id, pause)
    else:
        logger.warning(
            "pipeline worker %s: pass failed again (%d in a row; %s); retrying in %.0f s",
            worker_id,
            failures,
            summary,
            pause,
        )
    return summary

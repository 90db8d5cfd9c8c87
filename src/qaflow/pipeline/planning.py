"""Planning a job's datums: its files cut into shards, keyed by content, earlier work found.

Datums are keyed by their shard's digest (:mod:`qaflow.pipeline.shard_digests`). Work done
before shard digests existed, or while a blob could not be digested, is keyed by the whole
file: a file run again, or a job interrupted by the upgrade, must find it rather than answer
its rows again. So each shard's file-keyed datum is looked up too, and a finished one is taken
over under the digest key (an alias with the same result), which later files that share the
shard then find.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from qaflow.db import Datum, DatumState, insert_ignoring_duplicates
from qaflow.pipeline.datums import DatumRef, InputFile, datum_id, load_datums, shard
from qaflow.pipeline.shard_digests import ensure_digests
from qaflow.pipeline.spec import PipelineSpec
from qaflow.storage import ObjectStore


def plan_datums(
    *,
    session: Session,
    store: ObjectStore,
    files: Sequence[InputFile],
    spec: PipelineSpec,
    halted: Callable[[], bool] = lambda: False,
) -> list[DatumRef] | None:
    """The datums of ``files``, their shard digests computed first where missing; commits.

    None when ``halted`` turned true before every file was digested.
    """
    blobs = {entry.blob_sha256: entry.rows for entry in files}
    digests = ensure_digests(
        session=session, store=store, blobs=blobs, shard_rows=spec.shard_rows, halted=halted
    )
    if halted():
        return None
    return with_earlier_work(session, shard(files, spec, digests), spec)


def file_keyed(refs: Sequence[DatumRef], spec: PipelineSpec) -> dict[str, str]:
    """For each ref keyed by its shard's digest, the id of its rows' datum keyed by file."""
    keyed = {
        ref.id: datum_id(spec.spec_hash, ref.blob_sha256, ref.start, ref.stop, {}) for ref in refs
    }
    return {content: by_file for content, by_file in keyed.items() if content != by_file}


def preferred(
    refs: Sequence[DatumRef], alternatives: Mapping[str, str], datums: Mapping[str, Datum]
) -> list[DatumRef]:
    """``refs``, each under its file-keyed alternative where that datum has the work: it is
    done and the digest-keyed one is not, or it alone exists."""
    return [
        replace(ref, id=alternatives[ref.id])
        if ref.id in alternatives and _has_the_work(datums, ref.id, alternatives[ref.id])
        else ref
        for ref in refs
    ]


def with_earlier_work(
    session: Session, refs: Sequence[DatumRef], spec: PipelineSpec
) -> list[DatumRef]:
    """``refs`` with earlier, file-keyed work found (:func:`preferred`); a finished file-keyed
    datum gets a digest-keyed alias, so that files sharing the shard find it. Commits."""
    alternatives = file_keyed(refs, spec)
    if not alternatives:
        return list(refs)
    datums = load_datums(session, sorted({*alternatives, *alternatives.values()}))
    aliases = [
        _alias(ref, datums[alternatives[ref.id]])
        for ref in refs
        if ref.id in alternatives
        and ref.id not in datums
        and _done(datums.get(alternatives[ref.id]))
    ]
    if aliases:
        insert_ignoring_duplicates(session, Datum, aliases, ["id"])
        session.commit()
        datums.update(load_datums(session, [str(alias["id"]) for alias in aliases]))
    return preferred(refs, alternatives, datums)


def _has_the_work(datums: Mapping[str, Datum], content: str, by_file: str) -> bool:
    own, earlier = datums.get(content), datums.get(by_file)
    return earlier is not None and (own is None or (not _done(own) and _done(earlier)))


def _done(datum: Datum | None) -> bool:
    return datum is not None and datum.state == DatumState.DONE


def _alias(ref: DatumRef, done: Datum) -> dict[str, object]:
    return {
        "id": ref.id,
        "job_id": done.job_id,
        "path": ref.path,
        "blob_sha256": ref.blob_sha256,
        "shard_start": ref.start,
        "shard_stop": ref.stop,
        "state": DatumState.DONE,
        "tries": done.tries,
        "result_sha256": done.result_sha256,
        "rows": done.rows,
        "error_rows": done.error_rows,
    }

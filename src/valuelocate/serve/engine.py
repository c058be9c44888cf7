"""The batching engine: one thread owns the model and serves a bounded queue of jobs.

Generation jobs that are waiting together are served in one batch (up to ``max_batch`` rows),
each row with its own steering edit; a row leaves the batch when it ends, and jobs that arrive
while a batch runs join it between two steps (continuous batching; not for a model whose cache
has a sliding window), unless a scoring job waits: the batch then drains for it.
A greedy row that meets a near tie in a batch is served again alone up to that token and
goes on in the batch (see :mod:`valuelocate.serve.decode`); where rows cannot join (a sliding
window), it is served again alone after the batch, before anything else. Scoring jobs (prompt
log-probabilities for ``echo``) run one at a time. Requests over ``max_queue`` (waiting or
running) are refused at once with :class:`QueueFull`; a cancelled job frees its slot at the
next token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from valuelocate.hooks import Edit
from valuelocate.models import LoadedModel
from valuelocate.prompting import stop_token_ids
from valuelocate.serve.decode import decode_batch
from valuelocate.serve.row import Decoding, Row, TokenEvent
from valuelocate.serve.scoring import Scored, score
from valuelocate.serve.steering import Admission, Steering, SteeringCatalog

log = logging.getLogger("valuelocate.serve")


class QueueFull(RuntimeError):
    """The server already holds ``max_queue`` requests."""


@dataclass(kw_only=True)
class GenerateJob(Decoding):
    """A generation request. Callbacks run on the engine thread.

    ``edit`` is the request's edit when it was built at admission (``admitted``, see
    :meth:`Engine.admit`); otherwise the engine builds it from ``steering``.
    """

    ids: list[int]
    steering: Steering
    max_tokens: int
    on_token: Callable[[TokenEvent], None]
    on_done: Callable[[str, Exception | None], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    sent: list[int] = field(default_factory=list)
    solo: bool = False
    edit: Edit | None = None
    admitted: bool = False


@dataclass
class ScoreJob:
    """A scoring request: log-probabilities of every prompt token (``edit`` and ``admitted``
    as for :class:`GenerateJob`)."""

    ids: list[int]
    steering: Steering
    top_k: int
    on_result: Callable[[Scored | None, Exception | None], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    edit: Edit | None = None
    admitted: bool = False


Job = GenerateJob | ScoreJob


@dataclass
class EngineStats:
    """What the engine did, for tests and the log: batches run, the largest batch, rows
    served again alone after a near tie and the seconds that took (the price of every greedy
    answer equalling its solo one), and requests that joined a running batch."""

    batches: int = 0
    largest_batch: int = 0
    solo_retries: int = 0
    solo_seconds: float = 0.0
    joined: int = 0


class Engine:
    """Serve jobs on ``lm`` from one worker thread.

    Args:
        lm: the loaded model (only this engine's thread runs it).
        catalog: the neuron sets and the steering rules.
        max_batch: most rows in one batch (1 turns batching off).
        max_queue: most requests held, waiting or running.
        tie_margin: the greedy margin below which a batched row is served again alone.
        batch_window: seconds to wait for companions once a job arrives alone.
    """

    def __init__(
        self,
        lm: LoadedModel,
        catalog: SteeringCatalog,
        *,
        max_batch: int = 8,
        max_queue: int = 64,
        tie_margin: float = 1e-3,
        batch_window: float = 0.005,
    ) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        self.lm = lm
        self.catalog = catalog
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.tie_margin = tie_margin
        self.batch_window = batch_window
        self.stats = EngineStats()
        self.stop_ids = stop_token_ids(lm.model, lm.tokenizer)
        self._jobs: deque[Job] = deque()
        self._held = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="valuelocate-engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the worker after the current batch; jobs still waiting are dropped."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    @property
    def held(self) -> int:
        """Requests waiting or running now."""
        with self._cond:
            return self._held

    def admit(self, steering: Steering) -> Admission:
        """Build a request's edit for this model (through the catalog's cache, its constant
        vectors folded to the model's dtype); call it before :meth:`submit`, off the engine
        thread, and pass the edit in the job with ``admitted=True``."""
        param = next(self.lm.model.parameters())
        return self.catalog.admit(steering, dtype=param.dtype, device=param.device)

    def _edit(self, job: Job) -> Edit | None:
        """The job's edit: the one built at admission (restarted: a row served again alone
        draws from the seed again), else one built now."""
        if not job.admitted:
            return self.catalog.build(job.steering)
        reset = getattr(job.edit, "reset", None)
        if callable(reset):
            reset()
        return job.edit

    def submit(self, job: Job) -> None:
        """Queue ``job``; raise :class:`QueueFull` when ``max_queue`` requests are held."""
        with self._cond:
            if self._held >= self.max_queue:
                raise QueueFull(f"The server holds {self._held} requests (--max-queue)")
            self._held += 1
            self._jobs.append(job)
            self._cond.notify_all()

    def _release(self) -> None:
        with self._cond:
            self._held -= 1

    def _next_jobs(self) -> list[Job] | None:
        with self._cond:
            while not self._jobs and not self._closing:
                self._cond.wait()
            if self._closing:
                return None
            first = self._jobs.popleft()
            if isinstance(first, ScoreJob) or first.solo or self.max_batch == 1:
                return [first]
            if not self._jobs and self.batch_window > 0:
                self._cond.wait(self.batch_window)
            batch: list[Job] = [first]
            rest: deque[Job] = deque()
            while self._jobs:
                job = self._jobs.popleft()
                if isinstance(job, GenerateJob) and not job.solo and len(batch) < self.max_batch:
                    batch.append(job)
                else:
                    rest.append(job)
            self._jobs = rest
            return batch

    def _run(self) -> None:
        while (jobs := self._next_jobs()) is not None:
            live = [j for j in jobs if not j.cancelled.is_set()]
            for _ in range(len(jobs) - len(live)):
                self._release()
            if not live:
                continue
            first = live[0]
            try:
                if isinstance(first, ScoreJob):
                    self._score(first)
                else:
                    self._generate([j for j in live if isinstance(j, GenerateJob)])
            except Exception:  # e.g. a callback into a closed event loop: keep serving
                log.exception("engine error")

    def _score(self, job: ScoreJob) -> None:
        try:
            edit = self._edit(job)
            scope = job.steering.scope
            result = score(
                self.lm, job.ids, edit=edit, scope=scope, site=self.catalog.site, top_k=job.top_k
            )
        except Exception as exc:  # reported to the request; the engine keeps serving
            log.exception("scoring failed")
            self._release()
            job.on_result(None, exc)
            return
        self._release()
        job.on_result(result, None)

    def _generate(self, jobs: list[GenerateJob]) -> None:
        served: list[tuple[GenerateJob, Row]] = []  # the batch's open rows, joined ones too
        built = False
        try:
            served.extend((job, self._row(job)) for job in jobs)  # building an edit may fail
            built = True
            self.stats.batches += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(served))
            solo = len(jobs) == 1 and jobs[0].solo  # a near-tie retry runs alone to the end
            start = time.perf_counter()
            decode_batch(
                self.lm,
                [row for _, row in served],
                stop_ids=self.stop_ids,
                site=self.catalog.site,
                tie_margin=self.tie_margin,
                admit=None if solo or self.max_batch == 1 else self._admitter(served),
                max_rows=self.max_batch,
            )
            if solo:
                self.stats.solo_seconds += time.perf_counter() - start
        except Exception as exc:  # a failed batch fails its open requests, nothing else
            log.exception("generation failed")
            unbuilt = [] if built else jobs[len(served) :]
            failed = [job for job, row in served if not row.done or row.retry_solo] + unbuilt
            for job in failed:
                self._release()
                job.on_done("error", exc)
            return
        retries = [
            replace(job, sent=list(row.generated), solo=True)
            for job, row in served
            if row.retry_solo
        ]
        if retries:
            self.stats.solo_retries += len(retries)
            with self._cond:
                self._jobs.extendleft(reversed(retries))
                self._cond.notify_all()

    def _admitter(self, served: list[tuple[GenerateJob, Row]]) -> Callable[[int], list[Row]]:
        """What the decoding loop asks between steps for rows to join its batch: waiting
        generation jobs, at most ``room``, as long as no scoring job or solo retry waits
        (those run alone, so the batch is left to drain for them). The loop asks only where
        rows can join, and there it serves its near-tie rows itself (alone to the tie, then
        back), so no row it has left waits for a retry here."""

        def admit(room: int) -> list[Row]:
            # rows that ended are forgotten (a batch under steady load may never end)
            served[:] = [(job, row) for job, row in served if not row.done or row.retry_solo]
            with self._cond:
                if self._closing or any(
                    isinstance(j, ScoreJob) or j.solo for j in self._jobs
                ):  # fmt: skip
                    return []
                taken = [self._jobs.popleft() for _ in range(min(room, len(self._jobs)))]
            rows = []
            for job in taken:
                assert isinstance(job, GenerateJob)
                if job.cancelled.is_set():
                    self._release()
                    continue
                try:
                    row = self._row(job)
                except Exception as exc:  # this request's edit failed: it alone fails
                    log.exception("building a joining request's edit failed")
                    self._release()
                    job.on_done("error", exc)
                    continue
                served.append((job, row))
                rows.append(row)
            if rows:
                self.stats.joined += len(rows)
                self.stats.largest_batch = max(self.stats.largest_batch, len(served))
            return rows

        return admit

    def _row(self, job: GenerateJob) -> Row:
        def on_done(reason: str) -> None:
            self.stats.solo_retries += row.retries  # served alone to a near tie and back
            self.stats.solo_seconds += row.retry_seconds
            self._release()
            job.on_done(reason, None)

        row = Row(
            ids=job.ids,
            edit=self._edit(job),
            scope=job.steering.scope,
            max_tokens=job.max_tokens,
            on_token=job.on_token,
            on_done=on_done,
            cancelled=job.cancelled,
            sent=job.sent,
            **job.decoding(),
        )
        return row

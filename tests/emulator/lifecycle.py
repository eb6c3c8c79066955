"""Batch state machine, computed lazily from timestamps: validating → in_progress → finalizing → completed."""

import asyncio
import functools
import logging
import os
import time

import output
import validation
from config import BATCH_SKUS
from errors import ApiError
from store import FileRec, new_file_id

TERMINAL = ("completed", "failed", "expired", "cancelled")
NEXT = {"validating": "in_progress", "in_progress": "finalizing", "finalizing": "completed",
        "cancelling": "cancelled"}
DEFAULT_MAX_REQUESTS = {"azure": 100000, "openai": 50000}
INLINE_WORK_BYTES = 8 << 20   # smaller work is done within the request; bigger work in the background
log = logging.getLogger("emulator.lifecycle")


class Job:
    """Thread work (validation or result files) that a batch waits on before its next status."""

    def __init__(self, target, size):
        self.target = target
        self.size = size
        self.future = None
        self.finished = None
        self.out_id = self.err_id = self.out_path = self.err_path = None


def kind_of(url):
    """Which response shape a line's url asks for."""
    url = validation.normalise_url(url or "/chat/completions")
    for kind in ("/embeddings", "/responses", "/completions"):
        if url == kind:
            return kind
    return "/chat/completions"


def response_model(family, requested, deployments):
    """The model named in a response body: Azure answers with the deployment's model."""
    if family == "azure":
        for d in deployments:
            if d["name"] == requested:
                return d["model"]
    return requested or "unknown"


class Lifecycle:
    def __init__(self, app_state):
        self.s = app_state      # has .store, .cfg
        self._jobs = {}         # batch id -> Job running in the background

    # -- helpers ---------------------------------------------------------------------------------
    def _held(self, b):
        return b.hold or self.s.cfg["hold"] == b.status

    def max_requests(self, family):
        return self.s.cfg["max_requests"] or DEFAULT_MAX_REQUESTS[family]

    def deployment_names(self):
        """Deployments a batch file may name: batch SKUs only (a Standard deployment is model_not_found)."""
        return [d["name"] for d in self.s.cfg["deployments"] if d["sku"] in BATCH_SKUS]

    def reset(self):
        self._jobs.clear()

    # -- lazy advance ----------------------------------------------------------------------------
    async def refresh(self, b, now=None):
        """Bring one batch up to date; shielded so a vanished client cannot leave it half-done."""
        await asyncio.shield(self._refresh(b, now))

    async def _refresh(self, b, now):
        async with b.lock:
            now = time.time() if now is None else now
            while b.status in NEXT and not self._held(b):
                due = b.status_since + float(self.s.cfg["durations"][b.status])
                if now < due:
                    break
                target = NEXT[b.status]
                if target == "finalizing":
                    b.completed = sum(1 for r in b.requests or () if not r[1])
                    b.failed = b.total - b.completed
                    self._set(b, "finalizing", due)
                    continue
                job = self._jobs.get(b.id)
                if job is not None and job.target != target:     # e.g. cancelled while results were written
                    if not job.future.done():
                        break
                    self._discard(self._jobs.pop(b.id))
                    job = None
                if job is None:
                    job = self._start(b, target)
                    if job.size > INLINE_WORK_BYTES:
                        self._jobs[b.id] = job           # big: the batch stays where it is meanwhile
                        break
                    await asyncio.wait([job.future])
                    at = due
                elif not job.future.done():
                    break
                else:
                    del self._jobs[b.id]
                    at = max(due, job.finished)
                self._apply(b, job, at)

    async def refresh_all(self):
        now = time.time()
        for bid in list(self.s.store.batch_order):
            b = self.s.store.batches.get(bid)
            if b is not None and b.status in NEXT:
                await self.refresh(b, now)

    # -- work (validation, result files) runs in a thread --------------------------------------
    def _start(self, b, target, processed=None, expired=False):
        """Start the thread work that leads to `target`; returns a Job."""
        if target == "in_progress":
            fn = functools.partial(validation.validate, b.input_path, b.family, b.endpoint,
                                   self.deployment_names(), self.max_requests(b.family),
                                   self.s.cfg["line_fail_prefix"])
            size = os.path.getsize(b.input_path) if os.path.exists(b.input_path) else 0
            job = Job(target, size)
        else:
            requests = b.requests or []
            if processed is None:
                processed = len(requests) if target == "completed" else b.processed_limit
            pad = int(self.s.cfg["output_content_bytes"])
            store = self.s.store
            job = Job(target, len(requests) * (pad + 600))
            job.out_id = new_file_id(b.family, generated=True)
            job.err_id = new_file_id(b.family, generated=True)
            job.out_path, job.err_path = store.file_path(job.out_id), store.file_path(job.err_id)
            fn = functools.partial(output.write_results, requests, processed, b.id, b.family, kind_of(b.url),
                                   response_model(b.family, b.model, self.s.cfg["deployments"]), pad,
                                   job.out_path, job.err_path, expired)

        def run():
            try:
                return fn()
            finally:
                job.finished = time.time()

        job.future = asyncio.get_running_loop().run_in_executor(None, run)
        return job

    async def _run_now(self, b, target, **kw):
        job = self._start(b, target, **kw)
        await asyncio.wait([job.future])
        return job

    def _discard(self, job):
        for path in (job.out_path, job.err_path):
            if path and os.path.exists(path):
                os.unlink(path)

    def _apply(self, b, job, at):
        """Record what the work produced and move the batch to job.target (or failed) at `at`."""
        try:
            result = job.future.result()
        except Exception as exc:      # e.g. the data dir was reset under the job
            log.exception("batch %s: work for %s failed", b.id, job.target)
            self._discard(job)
            b.errors = [{"code": "internal_error", "message": f"The emulator failed: {type(exc).__name__}",
                         "param": None, "line": None}]
            self._set(b, "failed", at)
            return
        if job.target == "in_progress":
            b.url, b.model = result.url, result.model
            errors = result.errors or ([b.fail_after_validation] if b.fail_after_validation else [])
            if errors:
                b.errors = errors
                self._set(b, "failed", at)
            else:
                b.requests = result.requests
                b.total = len(result.requests)
                self._set(b, "in_progress", at)
            return
        self._register_results(b, job, result)
        self._set(b, job.target, at)

    def _set(self, b, status, at):
        b.status = status
        b.status_since = at
        b.times[f"{status}_at"] = at

    def _register_results(self, b, job, outcome):
        if outcome is None:
            outcome = job.future.result()
        b.completed, b.failed = outcome.succeeded, outcome.failed
        b.total = max(b.total, len(b.requests or ()))
        b.usage = {"input_tokens": outcome.input_tokens, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": outcome.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": outcome.input_tokens + outcome.output_tokens}
        now = time.time()
        if outcome.succeeded:
            b.output_file_id = self._register(job.out_id, job.out_path, b, "output", now).id
        else:
            os.unlink(job.out_path)
        # Azure: the error file exists even when empty; OpenAI: only when something failed.
        if outcome.failed or b.family == "azure":
            b.error_file_id = self._register(job.err_id, job.err_path, b, "error", now).id
        else:
            os.unlink(job.err_path)

    def _register(self, file_id, path, b, what, now):
        store = self.s.store
        return store.add_file(FileRec(
            id=file_id, family=b.family, purpose="batch_output", filename=f"{b.id}_{what}.jsonl", path=path,
            bytes=os.path.getsize(path), created_at=now, seq=store.next_seq(), generated=True,
            final_status="processed"))

    # -- operations ------------------------------------------------------------------------------
    async def cancel(self, b):
        await self.refresh(b)
        async with b.lock:
            if b.status in ("cancelling", "cancelled"):
                return
            if b.status in TERMINAL:
                raise ApiError(400, "unexpectedEntityState",
                               f"Cannot cancel a batch with status '{b.status}'.",
                               oai_code=None)
            self._start_cancel(b, time.time())

    def _start_cancel(self, b, now):
        if b.status == "validating":
            b.processed_limit = 0
        elif b.status == "in_progress":
            b.processed_limit = len(b.requests or ()) // 2
        else:
            b.processed_limit = len(b.requests or ())
        self._set(b, "cancelling", now)

    # Control operations act on the stored state: they are not API reads, so they do not advance it.
    async def set_hold(self, b, hold):
        async with b.lock:
            if b.hold and not hold:
                b.status_since = time.time()
            b.hold = bool(hold)

    def release_global_hold(self, old_hold, new_hold):
        """Batches that the old global hold kept start their current status afresh."""
        if old_hold == new_hold or old_hold is None:
            return
        now = time.time()
        for b in self.s.store.batches.values():
            if b.status == old_hold and not b.hold:
                b.status_since = now

    async def force(self, b, status, error=None):
        """Put a batch into `status` now, with consistent timestamps and files."""
        async with b.lock:
            if b.status == status:
                return
            pending = self._jobs.pop(b.id, None)
            if pending is not None:
                await asyncio.wait([pending.future])
                self._discard(pending)
            if status in ("in_progress", "finalizing", "completed", "cancelled", "expired") and b.requests is None:
                job = await self._run_now(b, "in_progress")
                result = job.future.result()
                b.url, b.model = result.url, result.model
                b.requests = result.requests
                b.total = len(result.requests)
            now = time.time()
            if status in ("finalizing", "completed", "expired"):
                b.times.setdefault("in_progress_at", now)
            if status == "completed":
                b.times.setdefault("finalizing_at", now)
                self._register_results(b, await self._run_now(b, "completed"), None)
            elif status == "finalizing":
                b.completed = sum(1 for r in b.requests if not r[1])
                b.failed = b.total - b.completed
            elif status == "failed":
                b.errors = [error or {"code": "invalid_request", "message": "The batch failed.",
                                      "param": None, "line": None}]
            elif status == "cancelling":
                self._start_cancel(b, now)
                return
            elif status == "cancelled":
                if b.status != "cancelling":
                    self._start_cancel(b, now)
                self._register_results(b, await self._run_now(b, "cancelled"), None)
            elif status == "expired":
                job = await self._run_now(b, "expired", processed=len(b.requests) // 2, expired=True)
                self._register_results(b, job, None)
            self._set(b, status, now)

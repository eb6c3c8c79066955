"""Batch state machine, computed lazily from timestamps: validating → in_progress → finalizing → completed."""

import asyncio
import os
import time

import output
import validation
from errors import ApiError
from store import FileRec, new_file_id

TERMINAL = ("completed", "failed", "expired", "cancelled")
NEXT = {"validating": "in_progress", "in_progress": "finalizing", "finalizing": "completed",
        "cancelling": "cancelled"}
DEFAULT_MAX_REQUESTS = {"azure": 100000, "openai": 50000}


def kind_of(url):
    """Which response shape a line's url asks for."""
    url = validation.normalise_url(url or "/chat/completions")
    for kind in ("/embeddings", "/responses", "/completions"):
        if url == kind:
            return kind
    return "/chat/completions"


class Lifecycle:
    def __init__(self, app_state):
        self.s = app_state      # has .store, .cfg

    # -- helpers ---------------------------------------------------------------------------------
    def _held(self, b):
        return b.hold or self.s.cfg["hold"] == b.status

    def max_requests(self, family):
        return self.s.cfg["max_requests"] or DEFAULT_MAX_REQUESTS[family]

    def deployment_names(self):
        return [d["name"] for d in self.s.cfg["deployments"]]

    async def _in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

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
                await self._transition(b, NEXT[b.status], due)

    async def refresh_all(self):
        now = time.time()
        for bid in list(self.s.store.batch_order):
            b = self.s.store.batches.get(bid)
            if b is not None and b.status in NEXT:
                await self.refresh(b, now)

    async def _validate(self, b):
        res = await self._in_thread(
            validation.validate, b.input_path, b.family, b.endpoint, self.deployment_names(),
            self.max_requests(b.family), self.s.cfg["line_fail_prefix"])
        b.url, b.model = res.url, res.model
        return res

    async def _transition(self, b, status, at):
        if status == "in_progress":
            res = await self._validate(b)
            errors = res.errors or ([b.fail_after_validation] if b.fail_after_validation else [])
            if errors:
                b.errors = errors
                self._set(b, "failed", at)
                return
            b.requests = res.requests
            b.total = len(res.requests)
            self._set(b, "in_progress", at)
        elif status == "finalizing":
            b.completed = sum(1 for r in b.requests or () if not r[1])
            b.failed = b.total - b.completed
            self._set(b, "finalizing", at)
        elif status == "completed":
            await self._write_results(b, len(b.requests or ()))
            self._set(b, "completed", at)
        elif status == "cancelled":
            await self._write_results(b, b.processed_limit)
            self._set(b, "cancelled", at)

    def _set(self, b, status, at):
        b.status = status
        b.status_since = at
        b.times[f"{status}_at"] = at

    async def _write_results(self, b, processed, expired=False):
        store = self.s.store
        requests = b.requests or []
        out_id = new_file_id(b.family, generated=True)
        err_id = new_file_id(b.family, generated=True)
        out_path, err_path = store.file_path(out_id), store.file_path(err_id)
        outcome = await self._in_thread(
            output.write_results, requests, processed, b.id, b.family, kind_of(b.url),
            self._response_model(b), int(self.s.cfg["output_content_bytes"]), out_path, err_path, expired)
        b.completed, b.failed = outcome.succeeded, outcome.failed
        b.total = max(b.total, len(requests))
        b.usage = {"input_tokens": outcome.input_tokens, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": outcome.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": outcome.input_tokens + outcome.output_tokens}
        now = time.time()
        if outcome.succeeded:
            b.output_file_id = self._register(out_id, out_path, b, "output", now).id
        else:
            os.unlink(out_path)
        # Azure: the error file exists even when empty; OpenAI: only when something failed.
        if outcome.failed or b.family == "azure":
            b.error_file_id = self._register(err_id, err_path, b, "error", now).id
        else:
            os.unlink(err_path)

    def _response_model(self, b):
        if b.family == "azure":
            for d in self.s.cfg["deployments"]:
                if d["name"] == b.model:
                    return d["model"]
        return b.model or "unknown"

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

    async def set_hold(self, b, hold):
        await self.refresh(b)
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
        await self.refresh(b)
        async with b.lock:
            now = time.time()
            if b.status == status:
                return
            if status in ("in_progress", "finalizing", "completed", "cancelled", "expired") and b.requests is None:
                res = await self._validate(b)
                b.requests = res.requests
                b.total = len(res.requests)
            if status in ("finalizing", "completed"):
                b.times.setdefault("in_progress_at", now)
            if status == "completed":
                b.times.setdefault("finalizing_at", now)
                await self._write_results(b, len(b.requests))
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
                await self._write_results(b, b.processed_limit)
            elif status == "expired":
                processed = len(b.requests) // 2
                await self._write_results(b, processed, expired=True)
            self._set(b, status, now)

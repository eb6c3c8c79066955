"""In-memory records of files and batches, id generation and the on-disk data directory."""

import asyncio
import itertools
import os
import secrets
import shutil
import uuid
from dataclasses import dataclass, field
from typing import Optional


def new_file_id(family, generated=False):
    """Azure uploads: file-<32 hex>; Azure batch outputs: file-<uuid>; OpenAI: file-<24 hex>."""
    if family == "azure":
        return f"file-{uuid.uuid4()}" if generated else f"file-{uuid.uuid4().hex}"
    return "file-" + secrets.token_hex(12)


def new_batch_id(family):
    return f"batch_{uuid.uuid4()}" if family == "azure" else "batch_" + secrets.token_hex(16)


@dataclass
class FileRec:
    id: str
    family: str
    purpose: str
    filename: str
    path: str
    bytes: int
    created_at: float
    seq: int
    generated: bool = False           # produced by a batch (output/error file)
    process_at: Optional[float] = None  # Azure uploads: when "pending" ends
    final_status: Optional[str] = None  # decided once processing is due
    status_details: Optional[str] = None
    expires_at: Optional[int] = None
    has_expiry: bool = False


@dataclass
class BatchRec:
    id: str
    family: str
    seq: int
    input_file_id: str
    input_path: str
    endpoint: str
    completion_window: str
    metadata: Optional[dict]
    created_at: float
    status: str = "validating"
    status_since: float = 0.0
    hold: bool = False
    times: dict = field(default_factory=dict)   # in_progress_at, finalizing_at, ... (floats)
    errors: Optional[list] = None               # list of {code, message, param, line}
    requests: Optional[list] = None             # [(custom_id, fails, prompt_tokens)] after validation
    url: Optional[str] = None                   # url used by the lines
    model: Optional[str] = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: Optional[str] = None
    error_file_id: Optional[str] = None
    usage: Optional[dict] = None
    est_tokens: int = 0
    fail_after_validation: Optional[dict] = None  # error to report when validation ends
    processed_limit: int = 0                    # requests done before a cancel took effect
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


class Store:
    """All state of one emulated resource."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.files_dir = os.path.join(data_dir, "files")
        self.batch_dir = os.path.join(data_dir, "batches")
        self._seq = itertools.count(1)
        self.files = {}
        self.batches = {}
        self.batch_order = []   # batch ids, oldest first
        self._make_dirs()

    def _make_dirs(self):
        os.makedirs(self.files_dir, exist_ok=True)
        os.makedirs(self.batch_dir, exist_ok=True)

    def next_seq(self):
        return next(self._seq)

    def file_path(self, file_id):
        return os.path.join(self.files_dir, file_id)

    def temp_path(self):
        return os.path.join(self.files_dir, ".upload-" + secrets.token_hex(8))

    def add_file(self, rec):
        self.files[rec.id] = rec
        return rec

    def add_batch(self, rec):
        self.batches[rec.id] = rec
        self.batch_order.append(rec.id)
        return rec

    def delete_file(self, file_id):
        rec = self.files.pop(file_id)
        try:
            os.unlink(rec.path)
        except FileNotFoundError:
            pass
        return rec

    def reset(self):
        self.files.clear()
        self.batches.clear()
        self.batch_order.clear()
        for d in (self.files_dir, self.batch_dir):
            shutil.rmtree(d, ignore_errors=True)
        self._make_dirs()

    def counts(self):
        by_purpose = {}
        for f in self.files.values():
            by_purpose[f.purpose] = by_purpose.get(f.purpose, 0) + 1
        by_status = {}
        for b in self.batches.values():
            by_status[b.status] = by_status.get(b.status, 0) + 1
        return {"files": len(self.files), "batches": len(self.batches),
                "files_by_purpose": by_purpose, "batches_by_status": by_status}

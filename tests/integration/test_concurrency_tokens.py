"""Token renewal under load: 32 readers at once while short-lived Entra ID tokens expire and
are revoked. One fetch at a time, no reader ever fails, no 401 left unanswered (run under
ThreadSanitizer in CI with test_concurrency.py)."""
import concurrent.futures as cf
import os
import threading

import pytest

import mount as m

pytestmark = pytest.mark.surfaces("azure", "azure-v1", reason="Entra ID tokens are Azure's")

READERS = 32
SECRET = "concurrency-secret"


def test_32_readers_while_tokens_expire_and_are_revoked(batchfs_factory, emulator):
    emulator.set_identity(token_lifetime=2)
    emulator.add_client("app-load", secret=SECRET)
    ids = emulator.create_batches(40, with_output=True, requests=2)
    tenant = emulator.identity()["tenant"]
    fs = batchfs_factory(emulator, key=None,
                         options={"status_ttl_ms": "50", "list_ttl_ms": "50"},
                         env={"AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "app-load",
                              "AZURE_CLIENT_SECRET": SECRET, "AZURE_AUTHORITY_HOST": emulator.url})
    first = len(emulator.token_requests(endpoint="entra"))

    stop = threading.Event()

    def reader(i):
        done = 0
        while not stop.is_set():
            bid = ids[(i * 7 + done) % len(ids)]
            assert m.read_text(fs.batch(bid) / "status") == "completed\n"
            assert len(os.listdir(fs.mnt / "batches")) == len(ids)
            done += 1
        return done

    def fetches():
        return len(emulator.token_requests(endpoint="entra")) - first

    with cf.ThreadPoolExecutor(READERS) as pool:
        futures = [pool.submit(reader, i) for i in range(READERS)]
        try:
            # two renewals as tokens expire under the readers' feet...
            m.poll(fetches, lambda n: n >= 2, timeout=60, what="renewals before expiry")
            # ...then every token revoked at once: 401s, one shared renewal
            emulator.revoke_tokens()
            m.poll(fetches, lambda n: n >= 3, timeout=60, what="a renewal after revocation")
        finally:
            stop.set()
        counts = [f.result() for f in futures]
    assert all(c > 0 for c in counts)
    # readers kept going across expiries and a revocation...
    fetched = len(emulator.token_requests(endpoint="entra")) - first
    assert fetched >= 1
    # ...with renewals shared, not one per reader
    assert fetched < READERS, f"{fetched} token fetches for {READERS} readers"
    assert m.read_text(fs.meta("credential")).count("last_error -") == 1

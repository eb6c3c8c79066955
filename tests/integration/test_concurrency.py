"""Many writers and readers at once: 32 parallel cp (different and identical files), 32 parallel readers."""
import concurrent.futures as cf
import hashlib
import random
import subprocess

import mount as m

DIFFERENT = 16
IDENTICAL = 16
READERS = 32


def test_32_parallel_cp_different_and_identical(batchfs_factory, emulator, tmp_path):
    # Keep every identical copy in flight together: each submission takes 5 s
    # (processing, or the create on OpenAI), far longer than starting 32 cp
    # processes, even on a loaded machine.
    m.slow_submissions(emulator, 5.0)
    fs = batchfs_factory(emulator)
    srcs = []
    for i in range(DIFFERENT):
        p = tmp_path / f"diff-{i}.jsonl"
        p.write_bytes(m.lines(*[m.line(f"d{i}-{k}") for k in range(5)]))
        srcs.append((p, fs.submit_dir() / p.name))
    same = tmp_path / "same.jsonl"
    same.write_bytes(m.lines(*[m.line(f"s-{k}") for k in range(5)]))
    for i in range(IDENTICAL - 1):
        srcs.append((same, fs.submit_dir() / "same.jsonl"))
    random.shuffle(srcs)

    def cp(pair):
        return subprocess.run(["cp", str(pair[0]), str(pair[1])], capture_output=True,
                              text=True, timeout=120)

    with cf.ThreadPoolExecutor(DIFFERENT + IDENTICAL) as pool:
        # The first identical copy creates the name; the others then replace it
        # while it is in flight (racing creates of one new name would make GNU
        # cp fail with EEXIST on any filesystem: it opens new files O_EXCL).
        first = pool.submit(cp, (same, fs.submit_dir() / "same.jsonl"))
        m.poll(lambda: "same.jsonl" in {p.name for p in fs.submit_dir().iterdir()},
               what="the first identical copy to appear")
        results = list(pool.map(cp, srcs)) + [first.result()]
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    batches = m.all_batches(emulator)
    names = sorted(b["metadata"]["batchfs_name"] for b in batches)
    # Every different file once; the identical copies in flight together: once.
    assert names == sorted([f"diff-{i}.jsonl" for i in range(DIFFERENT)] + ["same.jsonl"]), names
    assert (fs.links_dir() / "same.jsonl").is_symlink()
    assert not [p for p in fs.submit_dir().iterdir() if p.name.endswith(".error")]
    # Copying it again later, once the first is settled, is a new batch.
    subprocess.run(["cp", str(same), str(fs.submit_dir())], check=True, timeout=60)
    assert len(m.all_batches(emulator)) == DIFFERENT + 2


def test_32_parallel_readers_across_100_batches(batchfs_factory, emulator):
    ids = emulator.create_batches(100, with_output=True, requests=3)
    fs = batchfs_factory(emulator)
    expected = {}
    for bid in ids:
        batch = m.get_batch(emulator, bid)
        expected[bid] = hashlib.sha256(m.file_content(emulator, batch["output_file_id"])).hexdigest()
    order = [random.choice(ids) for _ in range(READERS * 8)]
    emulator.clear_requests()

    def read(bid):
        status = m.read_text(fs.batch(bid) / "status")
        out = m.read_bytes(fs.batch(bid) / "output.jsonl")
        return bid, status, hashlib.sha256(out).hexdigest()

    with cf.ThreadPoolExecutor(READERS) as pool:
        results = list(pool.map(read, order))
    for bid, status, digest in results:
        assert status == "completed\n"
        assert digest == expected[bid], bid
    # Each output was downloaded once, however many readers raced for it.
    downloads = m.calls(emulator, "GET", r".*/content")
    assert len(downloads) == len(set(order)), len(downloads)

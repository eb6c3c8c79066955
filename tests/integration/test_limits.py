"""Full spool and small download cache: writes fail with ENOSPC and a message, reads still work."""
import errno
import subprocess

import mount as m


def test_full_spool_fails_writes_with_enospc_and_reads_still_work(batchfs_factory, emulator,
                                                                   tmp_path):
    fs = batchfs_factory(emulator, options={"spool_size": "64k"})
    small = tmp_path / "small.jsonl"
    small.write_bytes(m.lines(*[m.line(f"s{i}") for i in range(3)]))
    subprocess.run(["cp", str(small), str(fs.submit_dir())], check=True, timeout=60)
    big = tmp_path / "big.jsonl"
    big.write_bytes(m.lines(*[m.line(f"b{i}", content="x" * 500) for i in range(400)]))
    step, err = m.write_close(fs.submit_dir() / "big.jsonl", big.read_bytes())
    assert (step, err) == ("write", errno.ENOSPC)
    reason = m.read_text(fs.submit_dir() / "big.jsonl.error")
    assert "spool is full" in reason and "spool_size" in reason, reason
    errors = m.read_text(fs.meta("errors"))
    assert "spool is full" in errors and "raise -o spool_size=" in errors, errors
    assert emulator.state()["batches"] == 1
    # Reading is unaffected.
    link = fs.links_dir() / "small.jsonl"
    m.poll(lambda: m.read_text(link / "status") == "completed\n", what="completion")
    assert m.read_bytes(link / "output.jsonl").count(b"\n") == 3
    # Removing receipts gives the space back.
    (fs.submit_dir() / "small.jsonl").unlink()
    (fs.submit_dir() / "big.jsonl").unlink()
    (fs.submit_dir() / "big.jsonl.error").unlink()
    medium = tmp_path / "medium.jsonl"
    medium.write_bytes(m.lines(*[m.line(f"m{i}", content="x" * 500) for i in range(60)]))
    assert 30000 < medium.stat().st_size < 60000
    subprocess.run(["cp", str(medium), str(fs.submit_dir())], check=True, timeout=60)
    assert emulator.state()["batches"] == 2
    assert "spool_bytes 0\n" not in m.read_text(fs.meta("stats"))


def test_output_larger_than_the_cache_is_still_readable(batchfs_factory, emulator, tmp_path):
    ids = emulator.create_batches(2, with_output=True, requests=200)
    fs = batchfs_factory(emulator, options={"cache_size": "4k"})
    for bid in ids:
        got = m.read_bytes(fs.batch(bid) / "output.jsonl")
        batch = m.get_batch(emulator, bid)
        assert got == m.file_content(emulator, batch["output_file_id"])
        assert len(got) > 4096

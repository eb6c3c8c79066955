"""Deployment discovery, one test per source: the Azure legacy data-plane listing, OpenAI's
/v1/models, the Azure management API (ARM, in test_credentials.py, which needs an Entra ID
token), names given with -o deployments=, and names learnt from batch metadata."""

import os

from control import jsonl
from mount import calls, write_close

CONTENT = jsonl(2).encode()


def test_azure_legacy_data_plane_listing(batchfs_factory, emulator_factory):
    emu = emulator_factory(deployments="alpha-batch=gpt-4o,beta-batch=gpt-4o-mini")
    fs = batchfs_factory(emu, options={"surface": "azure"})
    assert sorted(os.listdir(fs.mnt / "deployments")) == ["alpha-batch", "beta-batch"]
    [req] = calls(emu, "GET", "/openai/deployments")
    assert req["status"] == 200


def test_openai_models_listing(batchfs_factory, emulator_factory):
    emu = emulator_factory(deployments="alpha-batch=gpt-4o,beta-batch=gpt-4o-mini")
    fs = batchfs_factory(emu, options={"surface": "openai"})
    # on OpenAI a "deployment" is a model
    assert sorted(os.listdir(fs.mnt / "deployments")) == ["gpt-4o", "gpt-4o-mini"]
    assert len(calls(emu, "GET", "/v1/models")) == 1
    assert calls(emu, "GET", "/openai/deployments") == []


def test_azure_v1_with_names_given(batchfs_factory, emulator_factory):
    emu = emulator_factory(deployments="alpha-batch=gpt-4o")
    fs = batchfs_factory(emu, options={"surface": "azure-v1", "deployments": "alpha-batch"})
    assert os.listdir(fs.mnt / "deployments") == ["alpha-batch"]
    line = ('{"custom_id":"a","method":"POST","url":"/chat/completions","body":{"model":"alpha-batch",'
            '"messages":[{"role":"user","content":"hi"}]}}\n').encode()
    assert write_close(fs.submit_dir("alpha-batch") / "a.jsonl", line) == (None, 0)


def test_names_learnt_from_batch_metadata(batchfs_factory, emulator_factory):
    emu = emulator_factory(deployments="gpt-4o-batch=gpt-4o,learnt-batch=gpt-4o",
                           config={"legacy_deployments_api": False})
    emu.create_batches(1, deployment="learnt-batch", metadata={"batchfs_deployment": "learnt-batch"},
                       dialect="azure")
    fs = batchfs_factory(emu, options={"surface": "azure"})
    assert "learnt-batch" in os.listdir(fs.mnt / "deployments")
    assert any(b["metadata"].get("batchfs_deployment") == "learnt-batch" for b in
               emu.api("GET", "/openai/batches").json()["data"])


def test_openai_organization_and_project_headers(batchfs_factory, emulator_factory):
    """On OpenAI, -o organization= / -o project= (or OPENAI_ORG_ID / OPENAI_PROJECT_ID) go
    with every request."""
    emu = emulator_factory(deployments="gpt-4o-batch,gpt-4o-mini-batch")
    fs = batchfs_factory(emu, options={"surface": "openai", "organization": "org-bfs"},
                         env={"OPENAI_PROJECT_ID": "proj_bfs"})
    line = ('{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-batch",'
            '"messages":[{"role":"user","content":"hi"}]}}\n').encode()
    assert write_close(fs.submit_dir("gpt-4o-batch") / "o.jsonl", line) == (None, 0)
    reqs = [r for r in emu.requests() if r["path"].startswith("/v1/")]
    assert {r["method"] for r in reqs} >= {"GET", "POST"}
    for r in reqs:
        assert r["headers"].get("OpenAI-Organization") == "org-bfs", r
        assert r["headers"].get("OpenAI-Project") == "proj_bfs", r

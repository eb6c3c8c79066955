"""Fidelity: emulator responses validate against the official Azure and OpenAI schemas; quirks match the seed.

The schemas are verbatim extracts of the official specs, bundled in tests/fixtures/specs/schemas by
scripts/extract-specs from the project's shared/specs ($BATCHFS_SPECS, default <repo>/../shared/specs):
the Azure swagger 2.0 authoring specs (2024-10-21, 2025-04-01-preview), the Azure v1 extract (OpenAPI 3.0)
and OpenAI's openapi.yaml (3.1).
A small adapter turns their schemas into JSON Schema 2020-12 for python3-jsonschema:
- `$ref`s to `#/definitions/X` / `#/components/schemas/X` become `#/$defs/X` (only what is reachable is copied);
- swagger/OpenAPI-only keywords are dropped (`x-*`, `readOnly`, `discriminator`, `example`, `type: file`);
  unknown formats such as `unixtime` are annotations and are not checked;
- OpenAPI 3.0 `nullable: true` becomes "or null";
- a property that is not `required` may be null. The specs' own examples rely on this (Azure's post_batch.json
  and OpenAI's Batch example send `"output_file_id": null`, `"in_progress_at": null` for `type: string/integer`);
  the adapter is checked against those examples below;
- enums stay closed, except where a test says `open_enums=True`: then an Azure `x-ms-enum` with
  `modelAsString: true` (an extensible enum in AutoRest's terms) accepts other strings. Only error codes that
  the docs show outside the enum (`"401"`, `"404"`, `token_limit_exceeded`) use it, and those tests assert the
  exact code separately.
"""

import json
import os
import subprocess
import sys
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from control import jsonl

REPO = Path(__file__).resolve().parents[2]
SPECS = Path(os.environ.get("BATCHFS_SPECS", REPO.parent / "shared" / "specs"))
SCHEMAS = REPO / "tests" / "fixtures" / "specs" / "schemas"
EXAMPLES = REPO / "tests" / "fixtures" / "specs"
GA, PV = "2024-10-21", "2025-04-01-preview"
ISO_7 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+00:00$")
DROP = {"readOnly", "writeOnly", "discriminator", "example", "examples", "externalDocs", "xml", "deprecated",
        "nullable"}

# Seed (Microsoft's batch doc, French edition) JSON outputs, transcribed.
SEED_REST_CREATE = {
    "cancelled_at": None, "cancelling_at": None, "completed_at": None, "completion_window": "24h",
    "created_at": "2024-07-19T17:13:57.2491382+00:00", "error_file_id": None, "expired_at": None,
    "expires_at": "2024-07-20T17:13:57.1918498+00:00", "failed_at": None, "finalizing_at": None,
    "id": "batch_fe3f047a-de39-4068-9008-346795bfc1db", "in_progress_at": None,
    "input_file_id": "file-21006e70789246658b86a1fc205899a4", "errors": None, "metadata": None, "object": "batch",
    "output_file_id": None, "request_counts": {"total": None, "completed": None, "failed": None},
    "status": "Validating"}
SEED_PYTHON_CREATE = {
    "id": "batch_6caaf24d-54a5-46be-b1b7-518884fcbdde", "completion_window": "24h", "created_at": 1722476583,
    "endpoint": None, "input_file_id": "file-9f3a81d899b4442f98b640e4bc3535dd", "object": "batch",
    "status": "validating", "cancelled_at": None, "cancelling_at": None, "completed_at": None,
    "error_file_id": None, "errors": None, "expired_at": None, "expires_at": 1722562983, "failed_at": None,
    "finalizing_at": None, "in_progress_at": None, "metadata": None, "output_file_id": None,
    "request_counts": {"completed": 0, "failed": 0, "total": 0}}
SEED_PYTHON_UPLOAD = {
    "id": "file-9f3a81d899b4442f98b640e4bc3535dd", "bytes": 815, "created_at": 1722476551,
    "filename": "test.jsonl", "object": "file", "purpose": "batch", "status": None, "status_details": None}
SEED_REST_UPLOAD = {
    "status": "pending", "bytes": 686, "purpose": "batch", "filename": "test.jsonl",
    "id": "file-21006e70789246658b86a1fc205899a4", "created_at": 1721408291, "object": "file"}
SEED_FAILED_ERRORS = {"object": "list", "data": [{
    "code": "empty_file",
    "message": "The input file is empty. Please ensure that the batch contains at least one request."}]}
SEED_FAILED_COUNTS = {"total": 10, "completed": None, "failed": None}
SEED_LIST_KEYS = {"data", "first_id", "has_more", "last_id"}


# -- the adapter ----------------------------------------------------------------------------------

class Spec:
    """Named schemas of one spec document, validated as JSON Schema 2020-12."""

    def __init__(self, schemas, ref_prefix, label):
        self.schemas, self.prefix, self.label = schemas, ref_prefix, label

    def _refs(self, node, out):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(self.prefix):
                out.add(ref[len(self.prefix):])
            for key, value in node.items():
                if key != "$ref":
                    self._refs(value, out)
        elif isinstance(node, list):
            for value in node:
                self._refs(value, out)

    def _adapt(self, node, open_enums):
        if isinstance(node, list):
            return [self._adapt(x, open_enums) for x in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key.startswith("x-") or key in DROP:
                continue
            if key == "$ref":
                out[key] = "#/$defs/" + value[len(self.prefix):]
            elif key == "properties":
                out[key] = {name: self._adapt(sub, open_enums) for name, sub in value.items()}
            else:
                out[key] = self._adapt(value, open_enums)
        if out.get("type") == "file":
            del out["type"]
        if open_enums and node.get("x-ms-enum", {}).get("modelAsString"):
            out.pop("enum", None)
        if "properties" in out:
            required = set(node.get("required", ()))
            for name, sub in out["properties"].items():
                if name not in required:
                    out["properties"][name] = {"anyOf": [{"type": "null"}, sub]}
        if node.get("nullable") is True:
            out = {"anyOf": [{"type": "null"}, out]}
        return out

    def schema(self, name, open_enums=False):
        todo, seen = [name], set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            assert current in self.schemas, f"{self.label}: schema {current!r} not found"
            refs = set()
            self._refs(self.schemas[current], refs)
            todo.extend(refs - seen)
        defs = {n: self._adapt(self.schemas[n], open_enums) for n in seen}
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": defs,
                "$ref": f"#/$defs/{name}"}

    def errors(self, name, instance, open_enums=False):
        validator = jsonschema.Draft202012Validator(self.schema(name, open_enums))
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in validator.iter_errors(instance)]

    def check(self, name, instance, open_enums=False):
        errs = self.errors(name, instance, open_enums)
        assert not errs, f"{self.label} {name} rejects {json.dumps(instance)[:600]}:\n" + "\n".join(errs[:20])


@pytest.fixture(scope="module")
def specs():
    """The official schemas, as verbatim extracts bundled in tests/fixtures/specs/schemas
    (scripts/extract-specs copies them from ../shared/specs; see test_bundled_schemas_are_verbatim)."""
    def load(name):
        with open(SCHEMAS / name, encoding="utf-8") as fh:
            return json.load(fh)

    return {"ga": Spec(load("authoring-2024-10-21.definitions.json")["definitions"], "#/definitions/",
                       "Azure 2024-10-21"),
            "pv": Spec(load("authoring-2025-04-01-preview.definitions.json")["definitions"], "#/definitions/",
                       "Azure 2025-04-01-preview"),
            "v1": Spec(load("azure-v1.schemas.json")["schemas"], "#/components/schemas/", "Azure v1"),
            "oai": Spec(load("openai.schemas.json")["schemas"], "#/components/schemas/", "OpenAI"),
            "oai_lines": Spec(load("openai-2025-04-29.schemas.json")["schemas"], "#/components/schemas/",
                              "OpenAI 2025-04-29")}


def test_bundled_schemas_are_verbatim():
    """Where the project's shared/specs sits next to the repository (CI, developers), the bundled
    extracts must equal a fresh extraction; on a bare clone they must at least name their source."""
    for path in SCHEMAS.glob("*.json"):
        with open(path, encoding="utf-8") as fh:
            assert json.load(fh)["source"].startswith("shared/specs/"), path
    if SPECS.is_dir():
        proc = subprocess.run([sys.executable, str(REPO / "scripts" / "extract-specs"), "--check"],
                              capture_output=True, text=True, env=dict(os.environ, BATCHFS_SPECS=str(SPECS)))
        assert proc.returncode == 0, proc.stdout + proc.stderr


def example(path, status="200"):
    with open(EXAMPLES / path, encoding="utf-8") as fh:
        return json.load(fh)["responses"][status]["body"]


def shape(value):
    """Key structure and JSON types, for comparing with the seed's examples."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}[type(value)]


# -- the adapter against the specs' own examples --------------------------------------------------

@pytest.mark.parametrize("spec,path,definition,status", [
    ("ga", "authoring-2024-10-21/post_batch.json", "Batch", "200"),
    ("ga", "authoring-2024-10-21/cancel_batch.json", "Batch", "200"),
    ("ga", "authoring-2024-10-21/get_batches.json", "BatchesList", "200"),
    ("ga", "authoring-2024-10-21/get_file.json", "File", "200"),
    ("ga", "authoring-2024-10-21/get_files.json", "FileList", "200"),
    ("ga", "authoring-2024-10-21/upload_file.json", "File", "201"),
    ("ga", "authoring-2024-10-21/delete_file.json", "FileDelete", "200"),
    ("ga", "authoring-2024-10-21/get_models.json", "ModelList", "200"),
    ("pv", "authoring-2025-04-01-preview/post_batch.json", "Batch", "201"),
    ("pv", "authoring-2025-04-01-preview/get_batch.json", "Batch", "200"),
    ("pv", "authoring-2025-04-01-preview/get_files.json", "FileList", "200"),
])
def test_adapter_accepts_the_specs_own_examples(specs, spec, path, definition, status):
    specs[spec].check(definition, example(path, status))


def test_adapter_is_not_a_rubber_stamp(specs):
    assert specs["ga"].errors("Batch", {"id": "b", "input_file_id": "f", "status": "Validating"})
    assert specs["ga"].errors("Batch", {"id": "b", "input_file_id": "f", "created_at": "2024-07-19T17:13:57Z"})
    assert specs["ga"].errors("FileDelete", {"object": "file", "id": "f"})
    assert specs["oai"].errors("Batch", {"id": "b", "object": "batch"})
    assert specs["oai"].errors("ErrorResponse", {"error": {"code": "x", "message": "m"}})


# -- driving the emulator -------------------------------------------------------------------------

def azure_flow(emu, version, prefix="/openai"):
    """Upload, get, list files; fail a batch, complete one, cancel one, list the last two; delete."""
    kw = {"api_version": version} if version else {}
    out = {}
    up = emu.upload(jsonl(3), path=f"{prefix}/files", **kw)
    out["upload"] = up.json()
    fid = out["upload"]["id"]
    out["get_file"] = emu.api("GET", f"{prefix}/files/{fid}", **kw).json()
    out["list_files"] = emu.api("GET", f"{prefix}/files", **kw).json()
    create = {"input_file_id": fid, "endpoint": "/chat/completions", "completion_window": "24h",
              "metadata": {"k": "v"}}
    bad = emu.upload("{not json\n", path=f"{prefix}/files", **kw).json()["id"]
    emu.api("GET", f"{prefix}/files/{bad}", **kw)
    failed = emu.api("POST", f"{prefix}/batches", json_body=dict(create, input_file_id=bad), **kw).json()
    out["failed"] = emu.wait_batch(failed["id"], "failed", prefix=prefix, **kw)
    out["create"] = emu.api("POST", f"{prefix}/batches", json_body=create, **kw).json()
    out["completed"] = emu.wait_batch(out["create"]["id"], "completed", prefix=prefix, **kw)
    emu.config(hold="in_progress")
    second = emu.api("POST", f"{prefix}/batches", json_body=create, **kw).json()
    emu.wait_batch(second["id"], "in_progress", prefix=prefix, **kw)
    out["cancel"] = emu.api("POST", f"{prefix}/batches/{second['id']}/cancel", **kw).json()
    emu.config(hold=None)
    out["cancelled"] = emu.wait_batch(second["id"], "cancelled", prefix=prefix, **kw)
    out["list_batches"] = emu.api("GET", f"{prefix}/batches", query={"limit": 2}, **kw).json()
    out["delete"] = emu.api("DELETE", f"{prefix}/files/{fid}", **kw).json()
    out["models"] = emu.api("GET", f"{prefix}/models", **kw).json()
    return out


@pytest.mark.parametrize("spec,version", [("ga", GA), ("pv", PV)])
def test_azure_dated_responses_validate(emu, specs, spec, version):
    s = specs[spec]
    out = azure_flow(emu, version)
    s.check("File", out["upload"])
    s.check("File", out["get_file"])
    s.check("FileList", out["list_files"])
    for key in ("create", "completed", "cancel", "cancelled"):
        s.check("Batch", out[key])
    s.check("BatchesList", out["list_batches"])
    s.check("FileDelete", out["delete"])
    s.check("ModelList", out["models"])
    # errors.data: an array by default (docs, seed), which the Azure spec (a single object) rejects
    assert s.errors("Batch", out["failed"])
    assert out["failed"]["errors"]["data"][0]["code"] == "invalid_json_line"


def test_azure_create_keys_match_the_spec_example(emu):
    created = emu.submit(jsonl(1), metadata={"batch_description": "Evaluation job"}).json()
    ref = example("authoring-2024-10-21/post_batch.json")
    # expires_at is null in that example but set at creation in the seed's outputs (created_at + 24h)
    assert shape(dict(created, expires_at=None)) == shape(ref)
    assert created["expires_at"] == created["created_at"] + 86400


def test_azure_upload_and_list_shapes_match_the_spec_examples(emu):
    up = emu.upload(jsonl(1)).json()
    assert set(up) == set(example("authoring-2024-10-21/upload_file.json", "201")) | {"bytes"}
    assert set(emu.api("GET", "/openai/files").json()) == set(example("authoring-2024-10-21/get_files.json"))
    assert shape(up) == shape(SEED_REST_UPLOAD)


def test_errors_data_object_quirk_matches_the_azure_spec(emu, specs):
    emu.config(errors_data_object=True)
    content = "{bad\n" + jsonl(1)
    failed = emu.wait_batch(emu.submit(content).json()["id"], "failed")
    specs["ga"].check("Batch", failed)
    specs["pv"].check("Batch", failed)
    assert failed["errors"]["data"] == {"code": "invalid_json_line", "line": "1", "param": None,
                                        "message": failed["errors"]["data"]["message"]}


def test_azure_error_bodies(emu, specs):
    ga = specs["ga"]
    bad = emu.api("POST", "/openai/batches", json_body={"endpoint": "/chat/completions"})
    assert bad.status == 400
    ga.check("ErrorResponse", bad.json())
    assert bad.json()["error"]["code"] == "invalidPayload"
    missing = emu.api("GET", "/openai/batches/batch_missing")
    assert missing.status == 404
    ga.check("ErrorResponse", missing.json())
    assert missing.json()["error"]["code"] == "notFound"
    gateway = emu.api("GET", "/openai/batches", api_version="2023-05-15")
    denied = emu.api("GET", "/openai/batches", key="wrong")
    emu.config(token_limit_exceeded=True)
    quota = emu.submit(jsonl(1))
    for resp, status, code in ((gateway, 404, "404"), (denied, 401, "401"), (quota, 400, "token_limit_exceeded")):
        assert resp.status == status and resp.json()["error"]["code"] == code
        ga.check("ErrorResponse", resp.json(), open_enums=True)
        assert ga.errors("ErrorResponse", resp.json())          # outside the closed ErrorCode enum


def test_azure_v1_responses_validate(emu, specs):
    v1, oai, ga = specs["v1"], specs["oai"], specs["ga"]
    out = azure_flow(emu, None, prefix="/openai/v1")
    v1.check("AzureOpenAIFile", out["upload"])
    v1.check("AzureOpenAIFile", out["get_file"])
    v1.check("AzureListFilesResponse", out["list_files"])
    oai.check("DeleteFileResponse", out["delete"])     # v1 spec: $ref OpenAI.DeleteFileResponse
    oai.check("ListModelsResponse", out["models"])     # v1 spec: $ref OpenAI.ListModelsResponse
    for key in ("create", "completed", "cancel", "cancelled"):   # no /batches in the v1 spec: Azure's Batch
        ga.check("Batch", out[key])
    ga.check("BatchesList", out["list_batches"])
    for resp in (emu.api("GET", "/openai/v1/files/file-none"), emu.api("GET", "/openai/v1/files", key="bad"),
                 emu.api("POST", "/openai/v1/batches", json_body={})):
        assert resp.status in (400, 401, 404)
        v1.check("AzureErrorResponse", resp.json())


def test_openai_responses_validate(emu, specs):
    oai, lines = specs["oai"], specs["oai_lines"]
    up = emu.upload(jsonl(4, model="gpt-4o-mini", fail={2}), path="/v1/files")
    assert up.status == 200
    oai.check("OpenAIFile", up.json())
    fid = up.json()["id"]
    oai.check("OpenAIFile", emu.api("GET", f"/v1/files/{fid}").json())
    oai.check("ListFilesResponse", emu.api("GET", "/v1/files").json())
    create = {"input_file_id": fid, "endpoint": "/v1/chat/completions", "completion_window": "24h",
              "metadata": {"customer_id": "user_123456789"}}
    created = emu.api("POST", "/v1/batches", json_body=create)
    assert created.status == 200
    oai.check("Batch", created.json())
    done = emu.wait_batch(created.json()["id"], "completed", prefix="/v1")
    oai.check("Batch", done)
    for fid_out in (done["output_file_id"], done["error_file_id"]):
        for ln in emu.api("GET", f"/v1/files/{fid_out}/content").text.splitlines():
            lines.check("BatchRequestOutput", json.loads(ln))
    emu.config(hold="validating")
    held = emu.api("POST", "/v1/batches", json_body=create).json()
    cancel = emu.api("POST", f"/v1/batches/{held['id']}/cancel")
    oai.check("Batch", cancel.json())
    emu.config(hold=None)
    bad = emu.upload("[]\n", path="/v1/files").json()["id"]
    failed = emu.wait_batch(emu.api("POST", "/v1/batches", json_body=dict(create, input_file_id=bad)).json()["id"],
                            "failed", prefix="/v1")
    oai.check("Batch", failed)
    oai.check("ListBatchesResponse", emu.api("GET", "/v1/batches", query={"limit": 2}).json())
    oai.check("DeleteFileResponse", emu.api("DELETE", f"/v1/files/{fid}").json())
    oai.check("ListModelsResponse", emu.api("GET", "/v1/models").json())
    oai.check("Model", emu.api("GET", "/v1/models/gpt-4o").json())
    for resp, status in ((emu.api("GET", "/v1/files/file-none"), 404), (emu.api("GET", "/v1/files", auth=None), 401),
                         (emu.api("GET", "/v1/files", key="sk-wrong-key-123456"), 401),
                         (emu.api("POST", "/v1/batches", json_body={"input_file_id": fid}), 400),
                         (emu.api("GET", "/v1/nothing"), 404)):
        assert resp.status == status
        oai.check("ErrorResponse", resp.json())


def test_openai_empty_file_list_has_null_cursors(emu):
    body = emu.api("GET", "/v1/files").json()
    assert body == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


# -- quirks: spec shape when off, seed shape when on ----------------------------------------------

def test_rest_doc_quirks_match_the_seed_create_output(emu, specs):
    plain = emu.submit(jsonl(1)).json()
    specs["ga"].check("Batch", plain)
    assert isinstance(plain["created_at"], int) and plain["status"] == "validating"
    emu.config(iso_timestamps=True, capitalized_status=True, null_counts=True)
    quirky = emu.submit(jsonl(1)).json()
    assert set(quirky) - set(SEED_REST_CREATE) == {"endpoint"}     # the seed's REST output omits endpoint
    assert shape({k: quirky[k] for k in SEED_REST_CREATE}) == shape(SEED_REST_CREATE)
    assert ISO_7.match(quirky["created_at"]) and ISO_7.match(quirky["expires_at"])
    assert quirky["status"] == "Validating"
    assert specs["ga"].errors("Batch", quirky)           # integers and lowercase statuses in the spec
    running = emu.api("GET", f"/openai/batches/{quirky['id']}").json()
    assert running["status"] == "Completed" and running["request_counts"] == {"total": 1, "completed": 1,
                                                                               "failed": 0}


def test_capitalized_status_forms(emu):
    emu.config(capitalized_status=True, hold="in_progress")
    batch_id = emu.submit(jsonl(1)).json()["id"]
    assert emu.wait_batch(batch_id, "in_progress")["status"] == "In_progress"


def test_null_counts_on_a_failed_batch_match_the_seed(emu):
    emu.config(null_counts=True)
    failed = emu.wait_batch(emu.submit(b"").json()["id"], "failed")
    assert shape(failed["request_counts"]) == shape(SEED_FAILED_COUNTS)
    assert shape(failed["errors"]) == {"object": "string", "data": [dict(shape(SEED_FAILED_ERRORS["data"][0]),
                                                                          param="null", line="null")]}
    assert failed["errors"]["data"][0]["message"] == SEED_FAILED_ERRORS["data"][0]["message"]


def test_python_doc_quirks_match_the_seed(emu, specs):
    emu.config(null_endpoint=True, file_status_null=True)
    up = emu.upload(jsonl(1), filename="test.jsonl")
    assert shape(up.json()) == shape(SEED_PYTHON_UPLOAD)
    assert emu.api("GET", f"/openai/files/{up.json()['id']}").json()["status"] == "processed"
    created = emu.api("POST", "/openai/batches", json_body={"input_file_id": up.json()["id"],
                                                            "endpoint": "/chat/completions",
                                                            "completion_window": "24h"}).json()
    assert shape(created) == shape(SEED_PYTHON_CREATE)
    specs["ga"].check("Batch", created)            # endpoint is optional, so null is allowed


def test_empty_string_ids_and_omit_last_id(emu, specs):
    emu.config(empty_string_ids=True, omit_last_id=True)
    created = emu.submit(jsonl(1)).json()
    assert created["output_file_id"] == "" and created["error_file_id"] == ""
    specs["ga"].check("Batch", created)
    listing = emu.api("GET", "/openai/batches").json()
    assert set(listing) == {"object", "data", "has_more"}
    specs["ga"].check("BatchesList", listing)
    with_ids = emu.api("GET", "/v1/batches").json()                # quirks are Azure-only
    assert SEED_LIST_KEYS <= set(with_ids)


def test_legacy_deployments_and_models_match_the_examples(emu):
    deployments = emu.api("GET", "/openai/deployments", api_version="2022-12-01").json()
    assert shape(deployments) == shape(example("authoring-2022-12-01/get_deployments.json"))
    models = emu.api("GET", "/openai/models").json()
    ref = example("authoring-2024-10-21/get_models.json")["data"][0]
    assert set(models["data"][0]) == set(ref)
    assert set(models["data"][0]["capabilities"]) == set(ref["capabilities"])

"""Stdlib-only helper used by every pytest suite to start, steer and call the emulator."""

import http.client
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "emulator.py")
DEFAULT_API_VERSION = "2024-10-21"
READY_PREFIX = "emulator listening on "


class EmulatorError(RuntimeError):
    """The emulator could not be started or a control call failed."""


def _python():
    """An interpreter with aiohttp: this one, or Debian's (a pyenv python may lack python3-aiohttp)."""
    explicit = os.environ.get("BATCHFS_EMULATOR_PYTHON")
    if explicit:
        return explicit
    if importlib.util.find_spec("aiohttp") is not None:
        return sys.executable
    return "/usr/bin/python3"


def wait_for(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Poll `predicate` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def jsonl(n, model="gpt-4o-batch", url="/v1/chat/completions", prefix="task-", fail=(), start=0):
    """An input file of `n` chat requests; indexes in `fail` get custom_id "fail-<i>"."""
    lines = []
    for i in range(start, start + n):
        cid = f"fail-{i}" if i in fail else f"{prefix}{i}"
        lines.append(json.dumps({"custom_id": cid, "method": "POST", "url": url,
                                 "body": {"model": model, "messages": [{"role": "user", "content": f"Q{i}?"}]}}))
    return "\n".join(lines) + "\n"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # http.client.HTTPMessage: case-insensitive get()
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


def encode_multipart(fields, file_field, filename, content, content_type="application/octet-stream"):
    """(body, content-type header) for a multipart/form-data upload."""
    boundary = "----batchfs" + secrets.token_hex(12)
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    if file_field is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                     f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode())
        parts.append(content)
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Emulator:
    """A running emulator process. Use Emulator.start(...) or `with Emulator.start() as emu:`."""

    def __init__(self, proc, url, log_path, api_keys, bearer_tokens):
        self.proc = proc
        self.url = url
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.log_path = log_path
        self.api_keys = api_keys
        self.api_key = api_keys[0]
        self.bearer_tokens = bearer_tokens

    # -- process -------------------------------------------------------------------------------
    @classmethod
    def start(cls, api_keys=None, bearer_tokens=None, deployments=None, config=None, data_dir=None,
              host="127.0.0.1", port=0, port_file=None, log_path=None, timeout=20.0, extra_args=()):
        api_keys = list(api_keys or ["test-key"])
        bearer_tokens = list(bearer_tokens or [])
        cmd = [_python(), SERVER, "--host", host, "--port", str(port)]
        for k in api_keys:
            cmd += ["--api-key", k]
        for t in bearer_tokens:
            cmd += ["--bearer-token", t]
        if deployments is not None:
            cmd += ["--deployments", deployments if isinstance(deployments, str) else ",".join(deployments)]
        if config is not None:
            cmd += ["--config", config if isinstance(config, str) else json.dumps(config)]
        if data_dir is not None:
            cmd += ["--data-dir", str(data_dir)]
        if port_file is not None:
            cmd += ["--port-file", str(port_file)]
        cmd += list(extra_args)
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix="batchfs-emulator-", suffix=".log")
            os.close(fd)
        log_path = str(log_path)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            with open(log_path, "rb") as fh:
                for line in fh.read().decode("utf-8", "replace").splitlines():
                    if line.startswith(READY_PREFIX):
                        return cls(proc, line[len(READY_PREFIX):].strip(), log_path, api_keys, bearer_tokens)
            if proc.poll() is not None:
                raise EmulatorError(f"emulator exited with status {proc.returncode} before it was ready:\n"
                                    + cls._read(log_path))
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise EmulatorError(f"emulator not ready after {timeout}s:\n" + cls._read(log_path))
            time.sleep(0.02)

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as fh:
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_text(self):
        return self._read(self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- raw HTTP ------------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=30.0):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def _control(self, method, path, payload=None):
        body = None if payload is None else json.dumps(payload).encode()
        resp = self.request(method, "/_emulator" + path, body, {"Content-Type": "application/json"})
        if resp.status >= 300:
            raise EmulatorError(f"{method} /_emulator{path} -> {resp.status}: {resp.text}")
        return resp.json()

    # -- control API ---------------------------------------------------------------------------
    def get_config(self):
        return self._control("GET", "/config")

    def config(self, **kv):
        return self._control("PATCH", "/config", kv)

    def fault(self, **rule):
        return self._control("POST", "/faults", rule)["faults"][0]

    def faults(self):
        return self._control("GET", "/faults")["faults"]

    def clear_faults(self):
        self._control("DELETE", "/faults")

    def requests(self):
        return self._control("GET", "/requests")["requests"]

    def clear_requests(self):
        self._control("DELETE", "/requests")

    # The dialect create_batches() seeds for when a test does not say (a suite run on
    # the OpenAI surface sets "openai": Azure-family objects are not listed on /v1).
    default_dialect = None

    def create_batches(self, count, **kw):
        if self.default_dialect:
            kw.setdefault("dialect", self.default_dialect)
        return self._control("POST", "/batches", dict(kw, count=count))["ids"]

    def set_batch(self, batch_id, **kw):
        return self._control("POST", f"/batches/{batch_id}", kw)

    def reset(self):
        return self._control("POST", "/reset")

    def state(self):
        return self._control("GET", "/state")

    def uploads_in_progress(self):
        """[{"filename", "received"}] of the uploads being received now, oldest first: the file part's
        filename as its header gave it (None until that header has arrived, or if it gave none) and the
        bytes of the file part received so far. An upload leaves the list when its request ends."""
        return self._control("GET", "/uploads")["uploads"]

    # -- identities (Entra ID, managed identity, ARM, `az`) -------------------------------------
    def identity(self):
        """Identity settings: tenant, token_lifetime, imds, app_service, arm, clients (no secrets)."""
        return self._control("GET", "/identity")

    def set_identity(self, **kv):
        """PATCH identity settings; nested objects (imds, app_service, arm) merge key by key."""
        return self._control("PATCH", "/identity", kv)

    def add_client(self, client_id, tenant=None, secret=None, certificate=None, federated_tokens=None,
                   data_access=None, arm_access=None, secret_expired=None):
        """Register (or replace) an app registration; certificate: PEM text (or a list of them)."""
        body = {"client_id": client_id}
        for k, v in (("tenant", tenant), ("secret", secret), ("certificate", certificate),
                     ("federated_tokens", federated_tokens), ("data_access", data_access),
                     ("arm_access", arm_access), ("secret_expired", secret_expired)):
            if v is not None:
                body[k] = list(v) if k == "federated_tokens" else v
        return self._control("POST", "/identity/clients", body)

    def remove_client(self, client_id):
        return self._control("DELETE", "/identity/clients/" + urllib.parse.quote(client_id, safe=""))

    def add_federated_token(self, client_id, token=None, issuer=None, subject=None, audience=None,
                            expires_in=None):
        """Register a federated credential for client_id: `token` as given, or a JWT the emulator mints
        from issuer/subject/audience/expires_in. Returns the token string."""
        body = {k: v for k, v in (("token", token), ("issuer", issuer), ("subject", subject),
                                  ("audience", audience), ("expires_in", expires_in)) if v is not None}
        path = "/identity/clients/" + urllib.parse.quote(client_id, safe="") + "/federated"
        return self._control("POST", path, body)["token"]

    def revoke_tokens(self, client_id=None, audience=None):
        """Revoke issued tokens (all, or one client's / one audience's); returns how many."""
        body = {k: v for k, v in (("client_id", client_id), ("audience", audience)) if v is not None}
        return self._control("POST", "/identity/revoke", body)["revoked"]

    def tokens(self):
        return self._control("GET", "/identity/tokens")["tokens"]

    def issue_token(self, resource=None, scope=None, tenant=None):
        """A user token as `az account get-access-token` gets it (dict with access_token, expires_on...)."""
        body = {k: v for k, v in (("resource", resource), ("scope", scope), ("tenant", tenant)) if v is not None}
        return self._control("POST", "/identity/token", body)

    def token_requests(self, endpoint=None, grant=None):
        """Token requests seen (entra, imds, app_service, az), oldest first, secrets never included."""
        reqs = self._control("GET", "/identity/requests")["requests"]
        return [r for r in reqs if (endpoint is None or r["endpoint"] == endpoint)
                and (grant is None or r["grant"] == grant)]

    def token_request_counts(self):
        """{endpoint: {grant: count}}."""
        return self._control("GET", "/identity/requests")["counts"]

    def clear_token_requests(self):
        self._control("DELETE", "/identity/requests")

    def add_deployment(self, name, model=None, sku="Standard", capacity=10, version=None):
        """Append a deployment (default a non-batch Standard one) to the configuration."""
        deps = self.get_config()["deployments"]
        deps.append({k: v for k, v in (("name", name), ("model", model or name), ("sku", sku),
                                       ("capacity", capacity), ("version", version)) if v is not None})
        return self.config(deployments=deps)["deployments"]

    def entra_token(self, client_id, tenant=None, secret=None, assertion=None,
                    scope="https://cognitiveservices.azure.com/.default", **form):
        """POST the client-credentials grant to /{tenant}/oauth2/v2.0/token; returns the Response."""
        tenant = tenant or self.identity()["tenant"]
        fields = {"grant_type": "client_credentials", "client_id": client_id, "scope": scope}
        if secret is not None:
            fields["client_secret"] = secret
        if assertion is not None:
            fields["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            fields["client_assertion"] = assertion
        fields.update(form)
        fields = {k: v for k, v in fields.items() if v is not None}
        return self.request("POST", f"/{tenant}/oauth2/v2.0/token", urllib.parse.urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def token_endpoint(self, tenant=None):
        """The URL a client assertion's aud must name."""
        return f"{self.url}/{tenant or self.identity()['tenant']}/oauth2/v2.0/token"

    def imds_token(self, resource="https://cognitiveservices.azure.com", client_id=None, metadata=True,
                   api_version="2018-02-01"):
        query = {"api-version": api_version, "resource": resource}
        if client_id is not None:
            query["client_id"] = client_id
        headers = {"Metadata": "true"} if metadata else {}
        return self.request("GET", "/metadata/identity/oauth2/token?" + urllib.parse.urlencode(query),
                            headers=headers)

    def app_service_token(self, resource="https://cognitiveservices.azure.com", client_id=None, header=None,
                          api_version="2019-08-01"):
        query = {"api-version": api_version, "resource": resource}
        if client_id is not None:
            query["client_id"] = client_id
        if header is None:
            header = self.identity()["app_service"]["header"]
        headers = {"X-IDENTITY-HEADER": header} if header is not False else {}
        return self.request("GET", "/msi/token?" + urllib.parse.urlencode(query), headers=headers)

    def arm_deployments_path(self, name=None):
        arm = self.identity()["arm"]
        path = (f"/subscriptions/{arm['subscription']}/resourceGroups/{arm['resource_group']}/providers/"
                f"Microsoft.CognitiveServices/accounts/{arm['account']}/deployments")
        return path + ("/" + name if name else "")

    # -- the real API --------------------------------------------------------------------------
    def api(self, method, path, query=None, json_body=None, data=None, headers=None, auth="default",
            api_version=None, key=None, timeout=30.0):
        """Call the emulated API. Azure paths (/openai/...) get `api-key` and a default api-version,
        OpenAI paths (/v1/...) get `Authorization: Bearer`. auth: "default", "api-key", "bearer" or None."""
        query = dict(query or {})
        dated = path.startswith("/openai/") and not path.startswith("/openai/v1/")
        if dated and "api-version" not in query and api_version is not False:
            query["api-version"] = api_version or DEFAULT_API_VERSION
        hdrs = dict(headers or {})
        key = self.api_key if key is None else key
        if auth == "default":
            auth = "api-key" if path.startswith("/openai/") else "bearer"
        if auth == "api-key":
            hdrs["api-key"] = key
        elif auth == "bearer":
            hdrs["Authorization"] = f"Bearer {key}"
        body = data
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        return self.request(method, url, body, hdrs, timeout)

    def wait_batch(self, batch_id, statuses, prefix="/openai", timeout=10.0, **kw):
        """Poll GET {prefix}/batches/{id} until its status (any case) is one of `statuses`."""
        wanted = {statuses.lower()} if isinstance(statuses, str) else {s.lower() for s in statuses}
        last = {}

        def check():
            resp = self.api("GET", f"{prefix}/batches/{batch_id}", **kw)
            last["body"] = resp.json()
            return resp.status == 200 and str(last["body"].get("status")).lower() in wanted and last["body"]

        return wait_for(check, timeout, message=f"batch {batch_id} to reach {sorted(wanted)} (last: {last})")

    def submit(self, content, prefix="/openai", endpoint=None, **create):
        """Upload `content`, wait until the file is processed, create a batch; returns the create Response."""
        up = self.upload(content, path=f"{prefix}/files")
        if up.status not in (200, 201):
            raise EmulatorError(f"upload failed: {up}")
        file_id = up.json()["id"]
        wait_for(lambda: self.api("GET", f"{prefix}/files/{file_id}").json().get("status") == "processed",
                 message=f"file {file_id} to be processed")
        endpoint = endpoint or ("/v1/chat/completions" if prefix == "/v1" else "/chat/completions")
        body = dict({"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"}, **create)
        return self.api("POST", f"{prefix}/batches", json_body=body)

    def upload(self, content, path="/openai/files", purpose="batch", filename="input.jsonl", fields=(),
               **kw):
        """Multipart upload of `content` (bytes or str) to a files endpoint."""
        if isinstance(content, str):
            content = content.encode()
        form = ([("purpose", purpose)] if purpose is not None else []) + list(fields)
        body, ctype = encode_multipart(form, "file", filename, content)
        headers = dict(kw.pop("headers", None) or {}, **{"Content-Type": ctype})
        return self.api("POST", path, data=body, headers=headers, **kw)

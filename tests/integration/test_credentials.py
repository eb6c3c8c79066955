"""Microsoft Entra ID credentials against token endpoints served by the emulator: each kind
acquires a token, uses it, renews it before it expires and after a 401; certificate
assertions verified with the public key; bad credentials reported at mount time; the
DefaultAzureCredential chain; ARM deployment discovery; no secret anywhere."""

import os
import subprocess
from pathlib import Path

import pytest

from control import jsonl
from mount import (DEPLOYMENT, REPO, VALGRIND, closed_port, all_batches, is_mounted, poll, read_text, run_batchfs,
                   write_close)

# Entra ID tokens and ARM discovery exist only on Azure (dated and v1); OpenAI takes an API
# key alone (test_entra_auth_refused_on_openai checks that, pinning the surface itself).
pytestmark = pytest.mark.surfaces("azure", "azure-v1", reason="Entra ID credentials and ARM are Azure's")

CONTENT = jsonl(2).encode()
TOOLS = REPO / "tests" / "tools"
SECRET = "s3cret-Value~with.symbols_0123456789"


def no_other_sources(tmp_path):
    """Options that make IMDS and the Azure CLI absent, so the chain only finds what a test sets."""
    return {"imds_endpoint": f"http://127.0.0.1:{closed_port()}", "az_command": str(tmp_path / "no-az")}


def tenant(emu):
    return emu.identity()["tenant"]


def sp_env(emu, client_id, **extra):
    env = {"AZURE_TENANT_ID": tenant(emu), "AZURE_CLIENT_ID": client_id, "AZURE_AUTHORITY_HOST": emu.url}
    env.update(extra)
    return env


def data_plane(emu):
    return [r for r in emu.requests() if r["path"].startswith("/openai/")]


def credential(fs):
    return dict(line.split(" ", 1) for line in read_text(fs.meta("credential")).splitlines())


def assert_secret_nowhere(fs, *secrets):
    """Not in stderr, .batchfs/, the command line, or the daemon's environment."""
    texts = [fs.stderr()] + [read_text(fs.meta(n)) for n in os.listdir(fs.mnt / ".batchfs")]
    proc = Path(f"/proc/{fs.pid}")
    texts.append((proc / "cmdline").read_bytes().decode(errors="replace"))
    if not VALGRIND:
        # batchfs wipes them from its environment block; under valgrind /proc/PID/environ
        # shows valgrind's own copy, which the guest program cannot reach
        texts.append((proc / "environ").read_bytes().decode(errors="replace"))
    for s in secrets:
        for t in texts:
            assert s not in t


def submit_and_check(fs, emu, name="t.jsonl"):
    assert write_close(fs.submit_dir() / name, CONTENT) == (None, 0)
    reqs = data_plane(emu)  # before the test's own (api-key) look at the batches
    assert len(all_batches(emu)) >= 1
    assert reqs and all(r["auth"] == "bearer" for r in reqs), {r["auth"] for r in reqs}
    assert all(r.get("identity") for r in reqs if r["status"] != 401)


# ---- each kind -----------------------------------------------------------------------------------

def test_client_secret(batchfs_factory, emulator, tmp_path):
    emulator.add_client("app-secret", secret=SECRET)
    fs = batchfs_factory(emulator, key=None, options={"auth": "client-secret"},
                         env=sp_env(emulator, "app-secret", AZURE_CLIENT_SECRET=SECRET))
    submit_and_check(fs, emulator)
    c = credential(fs)
    assert c["kind"] == "client-secret"
    assert c["identity"] == f"tenant={tenant(emulator)} client_id=app-secret"
    assert c["scope"] == "https://cognitiveservices.azure.com/.default"
    assert c["token_expires"] != "-" and c["last_error"] == "-"
    assert emulator.token_request_counts()["entra"]["client_credentials"] == 1
    assert_secret_nowhere(fs, SECRET)


def test_token_renewed_before_it_expires(batchfs_factory, emulator):
    emulator.set_identity(token_lifetime=4)  # renewed at half its lifetime (2 s)
    emulator.add_client("app-short", secret=SECRET)
    fs = batchfs_factory(emulator, key=None,
                         env=sp_env(emulator, "app-short", AZURE_CLIENT_SECRET=SECRET))
    first = emulator.token_request_counts()["entra"]["client_credentials"]
    # listings past their 300 ms TTL call the API, each with a valid token
    poll(lambda: (os.listdir(fs.mnt / "batches"),
                  emulator.token_request_counts()["entra"]["client_credentials"])[1],
         lambda n: n >= first + 2, timeout=60, what="two renewals")
    assert not [r for r in data_plane(emulator) if r["status"] == 401], "a token was used after it expired"
    assert int(credential(fs)["tokens_fetched"]) >= 3


def test_token_renewed_once_after_a_401(batchfs_factory, emulator):
    emulator.add_client("app-revoked", secret=SECRET)
    fs = batchfs_factory(emulator, key=None,
                         env=sp_env(emulator, "app-revoked", AZURE_CLIENT_SECRET=SECRET))
    emulator.create_batches(1)
    assert emulator.revoke_tokens() >= 1
    emulator.clear_requests()
    # the next listing is refused (401), a new token is fetched and the call resent
    names = poll(lambda: os.listdir(fs.mnt / "batches"), lambda n: len(n) == 1, what="the listing")
    assert len(names) == 1
    statuses = [r["status"] for r in data_plane(emulator)]
    assert statuses[:2] == [401, 200], statuses
    assert emulator.token_request_counts()["entra"]["client_credentials"] == 2
    assert int(credential(fs)["tokens_fetched"]) == 2


def make_certificate(tmp_path, name="cert"):
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", f"/CN=batchfs-{name}"],
                   check=True, capture_output=True)
    pem = tmp_path / f"{name}.pem"
    pem.write_text(crt.read_text() + key.read_text())
    pem.chmod(0o600)
    return pem, crt.read_text()


def test_client_certificate_assertion_verified_by_the_emulator(batchfs_factory, emulator, tmp_path):
    pem, crt = make_certificate(tmp_path)
    reg = emulator.add_client("app-cert", certificate=crt)
    fs = batchfs_factory(emulator, key=None, options=no_other_sources(tmp_path),
                         env=sp_env(emulator, "app-cert", AZURE_CLIENT_CERTIFICATE_PATH=str(pem)))
    submit_and_check(fs, emulator)
    c = credential(fs)
    assert c["kind"] == "client-certificate"  # chosen by the default chain (environment)
    thumb = reg.get("thumbprint") or reg["certificates"][0]["thumbprint"]
    assert thumb.upper() in c["identity"].upper()
    [req] = emulator.token_requests(endpoint="entra")
    assert req["status"] == 200


def test_certificate_of_another_key_is_refused_at_mount(emulator, tmp_path):
    pem, _ = make_certificate(tmp_path, "mine")
    _, other = make_certificate(tmp_path, "registered")
    emulator.add_client("app-cert2", certificate=other)
    fs = run_batchfs(emulator, tmp_path, key=None, options={"auth": "client-certificate"},
                     env=sp_env(emulator, "app-cert2", AZURE_CLIENT_CERTIFICATE_PATH=str(pem)))
    assert fs.exit_code != 0 and not is_mounted(fs.mnt)
    assert "AADSTS700027" in fs.stderr() or "AADSTS" in fs.stderr(), fs.stderr()


def test_group_readable_certificate_is_refused(emulator, tmp_path):
    pem, crt = make_certificate(tmp_path)
    pem.chmod(0o640)
    emulator.add_client("app-cert3", certificate=crt)
    fs = run_batchfs(emulator, tmp_path, key=None, options={"auth": "client-certificate"},
                     env=sp_env(emulator, "app-cert3", AZURE_CLIENT_CERTIFICATE_PATH=str(pem)))
    assert fs.exit_code != 0 and "chmod 600" in fs.stderr()
    assert emulator.token_requests() == []


def test_workload_identity(batchfs_factory, emulator, tmp_path):
    emulator.add_client("app-wi")
    token = emulator.add_federated_token("app-wi")
    tf = tmp_path / "federated-token"
    tf.write_text(token)
    fs = batchfs_factory(emulator, key=None, options=no_other_sources(tmp_path),
                         env=sp_env(emulator, "app-wi", AZURE_FEDERATED_TOKEN_FILE=str(tf)))
    submit_and_check(fs, emulator)
    assert credential(fs)["kind"] == "workload-identity"
    # Kubernetes rotates the file: a renewal reads it again
    token2 = emulator.add_federated_token("app-wi")
    tf.write_text(token2)
    emulator.revoke_tokens()
    emulator.create_batches(1)
    poll(lambda: os.listdir(fs.mnt / "batches"), lambda n: len(n) == 2, what="listing after renewal")
    assert len(emulator.token_requests(endpoint="entra")) == 2
    assert_secret_nowhere(fs, token, token2)


def test_managed_identity_imds(batchfs_factory, emulator, tmp_path):
    emulator.set_identity(imds={"enabled": True})
    fs = batchfs_factory(emulator, key=None,
                         options={"imds_endpoint": emulator.url, "az_command": str(tmp_path / "no-az")})
    submit_and_check(fs, emulator)
    c = credential(fs)
    assert c["kind"] == "managed-identity (imds)"
    assert c["identity"].startswith("client_id=system-assigned")
    assert emulator.token_request_counts()["imds"]


def test_managed_identity_app_service(batchfs_factory, emulator, tmp_path):
    header = emulator.identity()["app_service"].get("header") or "emulator-identity-header"
    fs = batchfs_factory(emulator, key=None, options=no_other_sources(tmp_path),
                         env={"IDENTITY_ENDPOINT": emulator.url + "/msi/token", "IDENTITY_HEADER": header})
    submit_and_check(fs, emulator)
    assert credential(fs)["kind"] == "managed-identity (app service)"
    assert emulator.token_request_counts()["app_service"]
    assert_secret_nowhere(fs, header)


def az_env(emu):
    return {"PATH": f"{TOOLS}:/usr/local/bin:/usr/bin:/bin", "BATCHFS_EMULATOR_URL": emu.url}


def test_azure_cli(batchfs_factory, emulator, tmp_path):
    fs = batchfs_factory(emulator, key=None,
                         options={"imds_endpoint": f"http://127.0.0.1:{closed_port()}"},
                         env=az_env(emulator))
    submit_and_check(fs, emulator)
    assert credential(fs)["kind"] == "azure-cli"  # the chain's last resort
    assert emulator.token_request_counts()["az"]


def test_azure_cli_logged_out_is_reported_at_mount(emulator, tmp_path):
    env = dict(az_env(emulator), AZ_FAKE_LOGGED_OUT="1")
    fs = run_batchfs(emulator, tmp_path, key=None, options={"auth": "azure-cli"}, env=env)
    assert fs.exit_code != 0 and not is_mounted(fs.mnt)
    assert "az login" in fs.stderr()


def test_token_command(batchfs_factory, emulator, tmp_path):
    cmd = (f"{TOOLS / 'az'} account get-access-token --resource \"${{BATCHFS_TOKEN_RESOURCE}}\" "
           "--query accessToken -o tsv")
    fs = batchfs_factory(emulator, key=None, options={"token_command": cmd},
                         env={"BATCHFS_EMULATOR_URL": emulator.url})
    submit_and_check(fs, emulator)
    c = credential(fs)
    assert c["kind"] == "token-command" and "get-access-token" in c["identity"]
    # a bare token carries no expiry: it is renewed on a 401 only
    assert c["token_expires"] == "-"
    emulator.revoke_tokens()
    emulator.create_batches(1)
    poll(lambda: os.listdir(fs.mnt / "batches"), lambda n: len(n) == 2, what="listing after a 401")
    assert int(credential(fs)["tokens_fetched"]) == 2


def test_static_ad_token(batchfs_factory, emulator):
    tok = emulator.issue_token(resource="https://cognitiveservices.azure.com")
    value = tok.get("access_token") or tok["accessToken"]
    fs = batchfs_factory(emulator, key=None, env={"AZURE_OPENAI_AD_TOKEN": value})
    submit_and_check(fs, emulator)
    assert credential(fs)["kind"] == "bearer"
    assert_secret_nowhere(fs, value)


# ---- failures at mount time, and the chain ---------------------------------------------------------

def test_bad_secret_reported_at_mount_time(emulator, tmp_path):
    emulator.add_client("app-bad", secret=SECRET)
    fs = run_batchfs(emulator, tmp_path, key=None,
                     env=sp_env(emulator, "app-bad", AZURE_CLIENT_SECRET="wrong-" + SECRET))
    assert fs.exit_code != 0 and not is_mounted(fs.mnt)
    err = fs.stderr()
    assert "AADSTS7000215" in err and "app-bad" in err, err
    assert "wrong-" + SECRET not in err


def test_chain_stops_at_a_configured_but_failing_source(emulator, tmp_path):
    """DefaultAzureCredential semantics: a wrong client secret is an error, not a reason
    to fall through to the Azure CLI (which would mount as somebody else)."""
    emulator.add_client("app-bad2", secret=SECRET)
    env = dict(az_env(emulator), **sp_env(emulator, "app-bad2", AZURE_CLIENT_SECRET="nope"))
    fs = run_batchfs(emulator, tmp_path, key=None, env=env)
    assert fs.exit_code != 0 and "AADSTS7000215" in fs.stderr()
    assert not emulator.token_request_counts().get("az")


def test_api_key_wins_over_entra_variables(batchfs_factory, emulator):
    emulator.add_client("app-unused", secret=SECRET)
    fs = batchfs_factory(emulator, env=sp_env(emulator, "app-unused", AZURE_CLIENT_SECRET=SECRET))
    assert credential(fs)["kind"] == "api-key"
    assert emulator.token_requests() == []


def test_entra_auth_refused_on_openai(emulator, tmp_path):
    fs = run_batchfs(emulator, tmp_path, key=None, options={"surface": "openai", "auth": "client-secret"})
    assert fs.exit_code != 0 and "only Azure" in fs.stderr()


# ---- deployment discovery through ARM ---------------------------------------------------------------

def test_arm_discovery_pages_and_keeps_batch_skus(batchfs_factory, emulator):
    emulator.add_client("app-arm", secret=SECRET)
    for i in range(5):
        emulator.add_deployment(f"batch-extra-{i}", model="gpt-4o", sku="GlobalBatch" if i % 2 else "DataZoneBatch")
    emulator.add_deployment("chat-standard", model="gpt-4o", sku="Standard")
    emulator.add_deployment("chat-global", model="gpt-4o", sku="GlobalStandard")
    arm = emulator.identity()["arm"]
    emulator.set_identity(arm={"page_size": 2})
    fs = batchfs_factory(emulator, key=None,
                         options={"subscription_id": arm["subscription"], "resource_group": arm["resource_group"],
                                  "account_name": arm["account"], "management_endpoint": emulator.url},
                         env=sp_env(emulator, "app-arm", AZURE_CLIENT_SECRET=SECRET))
    deps = set(os.listdir(fs.mnt / "deployments"))
    assert {f"batch-extra-{i}" for i in range(5)} <= deps
    assert not {"chat-standard", "chat-global"} & deps
    arm_calls = [r for r in emulator.requests() if r["path"].startswith("/subscriptions/")]
    assert len(arm_calls) >= 4, "several pages followed"
    assert all(r["status"] == 200 for r in arm_calls)
    c = credential(fs)
    assert c["management_scope"] == "https://management.azure.com/.default"
    assert c["management_kind"] == "client-secret"


def test_arm_discovery_failure_leaves_a_working_mount(batchfs_factory, emulator):
    emulator.add_client("app-noarm", secret=SECRET, arm_access=False)
    fs = batchfs_factory(emulator, key=None,
                         options={"subscription_id": "00000000-0000-0000-0000-000000000000",
                                  "resource_group": "nope", "account_name": "nope",
                                  "management_endpoint": emulator.url},
                         env=sp_env(emulator, "app-noarm", AZURE_CLIENT_SECRET=SECRET))
    assert "deployment discovery through the management API failed" in fs.stderr()
    assert write_close(fs.submit_dir() / "w.jsonl", CONTENT) == (None, 0)


# each case pins its surface: it runs in that surface's run
@pytest.mark.parametrize("surface", [
    pytest.param(s, marks=pytest.mark.surfaces(s, reason="pins its surface: runs in that surface's run"))
    for s in ("azure", "azure-v1")])
def test_entra_on_both_azure_surfaces(batchfs_factory, emulator, surface):
    emulator.add_client("app-surf", secret=SECRET)
    fs = batchfs_factory(emulator, key=None, options={"surface": surface},
                         env=sp_env(emulator, "app-surf", AZURE_CLIENT_SECRET=SECRET))
    submit_and_check(fs, emulator)


# ---- every kind: acquired, used, renewed before expiry and after a 401 -------------------------------

def kind_setup(kind, emu, tmp_path):
    """(options, env, expected .batchfs/credential kind, token endpoint counted) for a kind."""
    closed = no_other_sources(tmp_path)
    if kind == "client-secret":
        emu.add_client("k-secret", secret=SECRET)
        return closed, sp_env(emu, "k-secret", AZURE_CLIENT_SECRET=SECRET), kind, "entra"
    if kind == "client-certificate":
        pem, crt = make_certificate(tmp_path)
        emu.add_client("k-cert", certificate=crt)
        return closed, sp_env(emu, "k-cert", AZURE_CLIENT_CERTIFICATE_PATH=str(pem)), kind, "entra"
    if kind == "workload-identity":
        emu.add_client("k-wi")
        tf = tmp_path / "federated"
        tf.write_text(emu.add_federated_token("k-wi"))
        return closed, sp_env(emu, "k-wi", AZURE_FEDERATED_TOKEN_FILE=str(tf)), kind, "entra"
    if kind == "imds":
        emu.set_identity(imds={"enabled": True})
        return dict(closed, imds_endpoint=emu.url), {}, "managed-identity (imds)", "imds"
    if kind == "app-service":
        header = emu.identity()["app_service"].get("header") or "emulator-identity-header"
        return closed, {"IDENTITY_ENDPOINT": emu.url + "/msi/token", "IDENTITY_HEADER": header}, \
            "managed-identity (app service)", "app_service"
    if kind == "azure-cli":
        return {"imds_endpoint": closed["imds_endpoint"]}, az_env(emu), kind, "az"
    if kind == "token-command":
        # token JSON on stdout (az's own format) carries the expiry
        cmd = f"{TOOLS / 'az'} account get-access-token --resource \"$BATCHFS_TOKEN_RESOURCE\" -o json"
        return dict(closed, token_command=cmd), {"BATCHFS_EMULATOR_URL": emu.url}, kind, "az"
    raise AssertionError(kind)


def token_fetches(emu, endpoint):
    return sum(emu.token_request_counts().get(endpoint, {}).values())


@pytest.mark.parametrize("kind", ["client-secret", "client-certificate", "workload-identity", "imds",
                                  "app-service", "azure-cli", "token-command"])
def test_each_kind_acquires_uses_and_renews(batchfs_factory, emulator, tmp_path, kind):
    emulator.set_identity(token_lifetime=4)  # renewed at half its lifetime
    options, env, shown, endpoint = kind_setup(kind, emulator, tmp_path)
    fs = batchfs_factory(emulator, key=None, options=options, env=env)
    # acquired and used, and not fetched per request (a slow start, under valgrind, may
    # already have renewed the 4 s token once)
    submit_and_check(fs, emulator, name=f"{kind}.jsonl")
    assert credential(fs)["kind"] == shown
    fetched, used = token_fetches(emulator, endpoint), len(data_plane(emulator))
    assert 1 <= fetched < used, (fetched, used)
    # renewed before it expires: listings past their TTL keep working, never a 401
    poll(lambda: (os.listdir(fs.mnt / "batches"), token_fetches(emulator, endpoint))[1],
         lambda n: n >= 3, timeout=60, what="renewals before expiry")
    assert not [r for r in data_plane(emulator) if r["status"] == 401]
    # renewed once after a 401: the refused call is sent again with the new token
    emulator.set_identity(token_lifetime=3599)
    n0 = token_fetches(emulator, endpoint)
    poll(lambda: (os.listdir(fs.mnt / "batches"), token_fetches(emulator, endpoint))[1],
         lambda n: n > n0, timeout=60, what="one more renewal, now of a long-lived token")
    before = token_fetches(emulator, endpoint)
    emulator.revoke_tokens()
    emulator.clear_requests()
    emulator.create_batches(1)
    poll(lambda: os.listdir(fs.mnt / "batches"), lambda n: len(n) == 2, what="listing after revocation")
    statuses = [r["status"] for r in data_plane(emulator)]
    assert 401 in statuses and statuses[statuses.index(401) + 1] == 200, statuses
    assert token_fetches(emulator, endpoint) == before + 1


def test_scope_option_for_the_v1_surface(batchfs_factory, emulator):
    """-o scope=: the v1 surface also takes tokens for https://ai.azure.com/.default."""
    emulator.add_client("app-scope", secret=SECRET)
    # (the legacy deployments listing is a dated API: it wants a cognitiveservices token)
    fs = batchfs_factory(emulator, key=None, options={"surface": "azure-v1", "scope": "https://ai.azure.com/.default",
                                                      "deployments": DEPLOYMENT},
                         env=sp_env(emulator, "app-scope", AZURE_CLIENT_SECRET=SECRET))
    submit_and_check(fs, emulator)
    assert credential(fs)["scope"] == "https://ai.azure.com/.default"
    assert emulator.token_requests(endpoint="entra")
    used = [r["identity"]["aud"] for r in data_plane(emulator) if r.get("identity")]
    assert used and all(aud.startswith("https://ai.azure.com") for aud in used), used

"""Emulator identity surfaces: Entra ID client credentials (secret, certificate, federated), IMDS and App
Service managed identity, Entra tokens on the data plane, ARM deployment listing, the fake `az`."""

import base64
import datetime
import hashlib
import json
import os
import subprocess
import time
import urllib.parse
import uuid

import pytest

from control import EmulatorError, jsonl, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AZ = os.path.join(REPO, "tests", "tools", "az")
COG = "https://cognitiveservices.azure.com/.default"
MGMT = "https://management.azure.com/.default"
DATA_PLANE_401 = {"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid, audience is "
                  "incorrect (https://cognitiveservices.azure.com), or have expired."}
AAD_KEYS = {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def assert_aad_error(resp, status, error, code):
    assert resp.status == status, resp
    body = resp.json()
    assert set(body) == AAD_KEYS, body
    assert body["error"] == error and body["error_codes"] == [code], body
    assert body["error_description"].startswith(f"AADSTS{code}: "), body
    assert f"Trace ID: {body['trace_id']} Correlation ID: {body['correlation_id']}" in body["error_description"]
    assert body["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"
    uuid.UUID(body["trace_id"])
    datetime.datetime.strptime(body["timestamp"], "%Y-%m-%d %H:%M:%SZ")
    return body


def files(emu, token, v1=False):
    return emu.api("GET", "/openai/v1/files" if v1 else "/openai/files", auth="bearer", key=token)


# ---- certificates made with the openssl CLI ------------------------------------------------------

class Cert:
    def __init__(self, tmp_path, name):
        self.tmp = tmp_path
        self.key = tmp_path / f"{name}.key"
        crt = tmp_path / f"{name}.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(crt), "-days", "2", "-subj", f"/CN={name}"], check=True, capture_output=True)
        self.pem = crt.read_text()
        der = subprocess.run(["openssl", "x509", "-in", str(crt), "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5t = b64url(hashlib.sha1(der).digest())
        self.x5t256 = b64url(hashlib.sha256(der).digest())

    def sign(self, data, pss=False):
        src = self.tmp / "signing-input"
        src.write_bytes(data)
        cmd = ["openssl", "dgst", "-sha256", "-sign", str(self.key)]
        if pss:
            cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
        return subprocess.run(cmd + [str(src)], check=True, capture_output=True).stdout

    def assertion(self, client_id, aud, header=None, claims=None, alg="RS256", signer=None, drop=()):
        now = int(time.time())
        hdr = {"alg": alg, "typ": "JWT", "x5t": self.x5t}
        hdr.update(header or {})
        body = {"aud": aud, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "nbf": now,
                "iat": now, "exp": now + 600}
        body.update(claims or {})
        for k in drop:
            hdr.pop(k, None)
            body.pop(k, None)
        signing_input = (b64url(json.dumps(hdr).encode()) + "." + b64url(json.dumps(body).encode())).encode()
        signature = (signer or self).sign(signing_input, pss=alg == "PS256")
        return signing_input.decode() + "." + b64url(signature)


@pytest.fixture
def cert(tmp_path):
    return Cert(tmp_path, "batchfs-app")


# ---- client secret -----------------------------------------------------------------------------

def test_client_secret_token_shape_and_data_plane(emu):
    emu.add_client("app-1", secret="s3cret~value")
    resp = emu.entra_token("app-1", secret="s3cret~value")
    assert resp.status == 200, resp
    assert resp.headers["Cache-Control"] == "no-store, no-cache"
    body = resp.json()
    assert list(body) == ["token_type", "expires_in", "ext_expires_in", "access_token"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == body["ext_expires_in"] == 3599
    claims = claims_of(body["access_token"])
    tenant = emu.identity()["tenant"]
    assert claims["aud"] == "https://cognitiveservices.azure.com" and claims["appid"] == "app-1"
    assert claims["tid"] == tenant and claims["iss"] == f"https://sts.windows.net/{tenant}/"
    assert abs(claims["exp"] - (time.time() + 3599)) < 5 and claims["appidacr"] == "1"
    assert files(emu, body["access_token"]).status == 200
    entry = emu.requests()[-1]
    assert entry["auth"] == "bearer" and entry["identity"]["client_id"] == "app-1"
    assert entry["identity"]["source"] == "entra"


def test_token_request_log_masks_secrets(emu, cert):
    emu.add_client("app-1", secret="very-secret-value", certificate=cert.pem)
    emu.entra_token("app-1", secret="very-secret-value")
    assertion = cert.assertion("app-1", emu.token_endpoint())
    emu.entra_token("app-1", assertion=assertion)
    emu.entra_token("app-1", secret="wrong-secret-value")
    token_posts = [r for r in emu.requests() if r["dialect"] == "entra"]
    assert [r["status"] for r in token_posts] == [200, 200, 401]
    assert token_posts[0]["form"]["client_secret"] == "[masked]"
    assert token_posts[1]["form"]["client_assertion"] == "[masked]"
    assert token_posts[1]["form"]["client_assertion_type"].endswith("jwt-bearer")
    everything = json.dumps(emu.requests()) + json.dumps(emu.token_requests()) + emu.log_text()
    for secret in ("very-secret-value", "wrong-secret-value", assertion):
        assert secret not in everything
    log = emu.token_requests(endpoint="entra")
    assert [(r["credential"], r["status"], r["error"]) for r in log] == [
        ("client_secret", 200, None), ("certificate", 200, None), (None, 401, 7000215)]
    assert emu.token_request_counts() == {"entra": {"client_credentials": 3}}
    emu.clear_token_requests()
    assert emu.token_requests() == []


def test_client_secret_errors(emu):
    tenant = emu.identity()["tenant"]
    emu.add_client("app-1", secret="good")
    body = assert_aad_error(emu.entra_token("app-1", secret="bad"), 401, "invalid_client", 7000215)
    assert "for a secret added to app 'app-1'" in body["error_description"]
    body = assert_aad_error(emu.entra_token("nobody", secret="x"), 400, "unauthorized_client", 700016)
    assert f"Application with identifier 'nobody' was not found in the directory '{tenant}'" \
        in body["error_description"]
    body = assert_aad_error(emu.entra_token("app-1", tenant="contoso.example", secret="good"), 400,
                            "invalid_tenant", 90002)
    assert "Tenant 'contoso.example' not found" in body["error_description"]
    assert_aad_error(emu.entra_token("app-1", tenant="common", secret="good"), 400, "invalid_request", 50059)
    body = assert_aad_error(emu.entra_token("app-1", secret="good", grant_type=""), 400, "invalid_request",
                            900144)
    assert "'grant_type'" in body["error_description"]
    assert_aad_error(emu.entra_token("app-1", secret="good", grant_type="password"), 400,
                     "unsupported_grant_type", 70003)
    assert_aad_error(emu.entra_token("app-1", secret="good", scope=None), 400, "invalid_request", 900144)
    assert_aad_error(emu.entra_token("app-1"), 401, "invalid_client", 7000218)
    assert_aad_error(emu.entra_token("app-1", secret="good", scope="https://cognitiveservices.azure.com/read"),
                     400, "invalid_scope", 1002012)
    assert_aad_error(emu.entra_token("app-1", secret="good", scope=f"{COG} {MGMT}"), 400, "invalid_scope", 70011)
    body = assert_aad_error(emu.entra_token("app-1", secret="good", scope="https://vault.azure.net/.default"), 400,
                            "invalid_resource", 500011)
    assert "The resource principal named https://vault.azure.net was not found" in body["error_description"]
    get = emu.request("GET", f"/{tenant}/oauth2/v2.0/token")
    assert_aad_error(get, 400, "invalid_request", 900561)
    emu.add_client("app-2", secret="old", secret_expired=True)
    assert_aad_error(emu.entra_token("app-2", secret="old"), 401, "invalid_client", 7000222)


def test_client_request_id_is_the_correlation_id(emu):
    tenant = emu.identity()["tenant"]
    cid = str(uuid.uuid4())
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "x", "scope": COG,
                                   "client_secret": "y"}).encode()
    resp = emu.request("POST", f"/{tenant}/oauth2/v2.0/token", form,
                       {"Content-Type": "application/x-www-form-urlencoded", "client-request-id": cid})
    assert resp.json()["correlation_id"] == cid


def test_tenant_of_another_directory_and_openid_configuration(emu):
    emu.add_client("app-x", tenant="contoso.onmicrosoft.com", secret="s")
    assert emu.entra_token("app-x", tenant="contoso.onmicrosoft.com", secret="s").status == 200
    assert_aad_error(emu.entra_token("app-x", secret="s"), 400, "unauthorized_client", 700016)
    doc = emu.request("GET", "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert doc.status == 200
    assert doc.json()["token_endpoint"] == f"{emu.url}/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert "private_key_jwt" in doc.json()["token_endpoint_auth_methods_supported"]
    assert_aad_error(emu.request("GET", "/nope.example/v2.0/.well-known/openid-configuration"), 400,
                     "invalid_tenant", 90002)


# ---- certificate assertions --------------------------------------------------------------------

def test_certificate_assertion_rs256_ps256_and_x5t_s256(emu, cert):
    summary = emu.add_client("cert-app", certificate=cert.pem)
    assert summary["certificates"][0]["x5t"] == cert.x5t
    assert summary["certificates"][0]["x5t#S256"] == cert.x5t256
    aud = emu.token_endpoint()
    for assertion in (cert.assertion("cert-app", aud),
                      cert.assertion("cert-app", aud, alg="PS256"),
                      cert.assertion("cert-app", aud, header={"x5t#S256": cert.x5t256}, drop=("x5t",))):
        resp = emu.entra_token("cert-app", assertion=assertion)
        assert resp.status == 200, resp
        token = resp.json()["access_token"]
        assert claims_of(token)["appidacr"] == "2"
        assert files(emu, token).status == 200
    assert {r["credential"] for r in emu.token_requests()} == {"certificate"}


def test_certificate_assertion_rejections(emu, cert, tmp_path):
    other = Cert(tmp_path, "intruder")
    emu.add_client("cert-app", certificate=cert.pem)
    aud = emu.token_endpoint()
    # signed with another key, but naming the registered certificate
    body = assert_aad_error(emu.entra_token("cert-app", assertion=cert.assertion("cert-app", aud, signer=other)),
                            401, "invalid_client", 700027)
    assert "Key was found, but use of the key to verify the signature failed" in body["error_description"]
    thumb = base64.urlsafe_b64decode(cert.x5t + "=").hex().upper()
    assert f"Thumbprint of key used by client: '{thumb}'" in body["error_description"]
    # a certificate the app does not have
    body = assert_aad_error(emu.entra_token("cert-app", assertion=other.assertion("cert-app", aud)),
                            401, "invalid_client", 700027)
    assert "is not registered on application" in body["error_description"]
    # wrong audience, several audiences
    assert_aad_error(emu.entra_token("cert-app", assertion=cert.assertion("cert-app", "https://elsewhere/token")),
                     401, "invalid_client", 700023)
    assert_aad_error(emu.entra_token("cert-app", assertion=cert.assertion("cert-app", [aud, aud + "x"])),
                     401, "invalid_client", 5002741)
    # expired; not yet valid beyond the 5 minutes of skew; within the skew is fine
    now = int(time.time())
    body = assert_aad_error(emu.entra_token("cert-app", assertion=cert.assertion(
        "cert-app", aud, claims={"nbf": now - 7200, "iat": now - 7200, "exp": now - 3600})),
        401, "invalid_client", 700024)
    assert "Client assertion is not within its valid time range" in body["error_description"]
    assert_aad_error(emu.entra_token("cert-app", assertion=cert.assertion(
        "cert-app", aud, claims={"nbf": now + 900, "iat": now + 900, "exp": now + 1500})),
        401, "invalid_client", 700024)
    assert emu.entra_token("cert-app", assertion=cert.assertion(
        "cert-app", aud, claims={"nbf": now + 120, "iat": now + 120})).status == 200
    # sub is not the client; jti missing; not a JWT; wrong assertion type
    assert_aad_error(emu.entra_token("cert-app", assertion=cert.assertion("cert-app", aud, claims={"sub": "x"})),
                     401, "invalid_client", 700021)
    assert_aad_error(emu.entra_token("cert-app", assertion=cert.assertion("cert-app", aud, drop=("jti",))),
                     401, "invalid_client", 50098)
    assert_aad_error(emu.entra_token("cert-app", assertion="not-a-jwt"), 400, "invalid_request", 50027)
    assert_aad_error(emu.entra_token("cert-app", assertion=cert.assertion("cert-app", aud),
                                     client_assertion_type="urn:x"), 400, "invalid_request", 90011)
    # an alg the service does not take
    assert_aad_error(emu.entra_token("cert-app", assertion=cert.assertion("cert-app", aud, alg="HS256")),
                     401, "invalid_client", 700027)


def test_certificate_credential_needs_a_pem_certificate(emu):
    with pytest.raises(EmulatorError, match="PEM certificate"):
        emu.add_client("x", certificate="not a certificate")


# ---- workload identity (federated credentials) -------------------------------------------------

def test_federated_token_accepted_only_when_registered(emu, cert):
    emu.add_client("wi-app")
    token = emu.add_federated_token("wi-app", issuer="https://oidc.example/cluster",
                                    subject="system:serviceaccount:ns:batchfs")
    claims = claims_of(token)
    assert claims["aud"] == "api://AzureADTokenExchange" and claims["sub"] == "system:serviceaccount:ns:batchfs"
    resp = emu.entra_token("wi-app", assertion=token)
    assert resp.status == 200, resp
    assert files(emu, resp.json()["access_token"]).status == 200
    assert emu.token_requests()[-1]["credential"] == "federated"
    # the same kind of token, not registered
    stranger = emu.add_federated_token("wi-app", issuer="https://oidc.example/other", subject="repo:x")
    emu.add_client("wi-app")                                  # replacing the client drops its credentials
    body = assert_aad_error(emu.entra_token("wi-app", assertion=stranger), 400, "invalid_request", 70021)
    assert "Assertion Issuer: 'https://oidc.example/other'. Assertion Subject: 'repo:x'." in body["error_description"]
    # an exact string registered as given
    emu.add_federated_token("wi-app", token="opaque-projected-token")
    assert emu.entra_token("wi-app", assertion="opaque-projected-token").status == 200
    assert_aad_error(emu.entra_token("wi-app", assertion="other-opaque-token"), 400, "invalid_request", 50027)
    # registered but expired
    old = emu.add_federated_token("wi-app", expires_in=-60)
    assert_aad_error(emu.entra_token("wi-app", assertion=old), 401, "invalid_client", 700024)


# ---- tokens on the data plane ------------------------------------------------------------------

def test_expired_token_gets_401_on_the_data_plane(emu):
    emu.add_client("app-1", secret="s")
    emu.set_identity(token_lifetime=2)
    resp = emu.entra_token("app-1", secret="s")
    assert resp.json()["expires_in"] == 2
    token = resp.json()["access_token"]
    assert claims_of(token)["exp"] <= time.time() + 2
    assert files(emu, token).status == 200
    wait_for(lambda: files(emu, token).status == 401, timeout=10, message="the token to expire")
    for v1 in (False, True):
        denied = files(emu, token, v1=v1)
        assert denied.status == 401 and denied.json() == DATA_PLANE_401
    assert [t["expired"] for t in emu.tokens()] == [True]


def test_revoked_tokens_get_401(emu):
    emu.add_client("app-1", secret="s")
    emu.add_client("app-2", secret="s")
    t1 = emu.entra_token("app-1", secret="s").json()["access_token"]
    t2 = emu.entra_token("app-2", secret="s").json()["access_token"]
    assert files(emu, t1).status == 200 and files(emu, t2).status == 200
    assert emu.revoke_tokens(client_id="app-1") == 1
    assert files(emu, t1).json() == DATA_PLANE_401 and files(emu, t2).status == 200
    assert emu.revoke_tokens() == 1
    assert files(emu, t2).status == 401
    t3 = emu.entra_token("app-2", secret="s").json()["access_token"]     # a new token works again
    assert files(emu, t3).status == 200


def test_audiences_per_surface(emu):
    emu.add_client("app-1", secret="s")
    cog = emu.entra_token("app-1", secret="s").json()["access_token"]
    ai = emu.entra_token("app-1", secret="s", scope="https://ai.azure.com/.default").json()["access_token"]
    mgmt = emu.entra_token("app-1", secret="s", scope=MGMT).json()["access_token"]
    assert files(emu, cog).status == 200 and files(emu, cog, v1=True).status == 200
    assert files(emu, ai, v1=True).status == 200
    assert files(emu, ai).json() == DATA_PLANE_401                     # the dated surface wants cognitiveservices
    assert files(emu, mgmt).json() == DATA_PLANE_401 and files(emu, mgmt, v1=True).status == 401
    assert emu.api("GET", "/v1/files", key=cog).json()["error"]["code"] == "invalid_api_key"   # not OpenAI's
    # an api-key header that is an Entra token is not a key
    assert emu.api("GET", "/openai/files", key=cog, auth="api-key").json()["error"]["code"] == "401"
    # a JWT-shaped token the emulator never issued
    forged = ".".join([b64url(b'{"alg":"RS256"}'), b64url(b'{"aud":"https://cognitiveservices.azure.com"}'),
                       b64url(b"sig")])
    assert files(emu, forged).json() == DATA_PLANE_401


def test_static_keys_and_bearer_tokens_unchanged(emulator_factory):
    emu = emulator_factory(api_keys=["k1"], bearer_tokens=["static-token"])
    assert emu.api("GET", "/openai/files", key="k1").status == 200
    assert emu.api("GET", "/openai/files", key="static-token", auth="bearer").status == 200
    denied = emu.api("GET", "/openai/files", key="garbage", auth="bearer")
    assert denied.status == 401 and "invalid subscription key" in denied.json()["error"]["message"]


def test_principal_without_data_role_gets_permission_denied(emu):
    emu.add_client("reader", secret="s", data_access=False)
    token = emu.entra_token("reader", secret="s").json()["access_token"]
    denied = files(emu, token)
    assert denied.status == 401
    err = denied.json()["error"]
    assert err["code"] == "PermissionDenied"
    assert "lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/files/read`" \
        in err["message"] and "`GET /openai/files`" in err["message"]
    oid = emu.identity()["clients"][0]["object_id"]
    assert f"The principal `{oid}`" in err["message"]


# ---- managed identity: IMDS --------------------------------------------------------------------

def test_imds_token(emu):
    ident = emu.identity()
    resp = emu.imds_token("https://cognitiveservices.azure.com")
    assert resp.status == 200, resp
    body = resp.json()
    assert sorted(body) == ["access_token", "client_id", "expires_in", "expires_on", "ext_expires_in",
                            "not_before", "resource", "token_type"]
    assert all(isinstance(body[k], str) for k in ("expires_in", "expires_on", "ext_expires_in", "not_before"))
    assert body["expires_in"] == "3599" and body["token_type"] == "Bearer"
    assert body["client_id"] == ident["imds"]["client_id"]
    assert int(body["expires_on"]) == claims_of(body["access_token"])["exp"]
    assert abs(int(body["expires_on"]) - time.time() - 3599) < 5
    assert body["resource"] == "https://cognitiveservices.azure.com"
    assert claims_of(body["access_token"])["tid"] == ident["tenant"]
    assert files(emu, body["access_token"]).status == 200
    assert emu.requests()[-1]["identity"]["source"] == "imds"
    mgmt = emu.imds_token("https://management.azure.com/").json()
    assert mgmt["resource"] == "https://management.azure.com/"
    assert emu.token_request_counts() == {"imds": {"managed_identity": 2}}


def test_imds_errors(emu):
    no_header = emu.imds_token(metadata=False)
    assert no_header.status == 400
    assert no_header.json() == {"error": "invalid_request",
                                "error_description": "Required metadata header not specified"}
    missing = emu.request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01", headers={"Metadata": "true"})
    assert missing.status == 400 and "resource" in missing.json()["error_description"]
    unknown = emu.imds_token(client_id="11111111-2222-3333-4444-555555555555")
    assert unknown.status == 400
    assert unknown.json() == {"error": "invalid_request", "error_description": "Identity not found"}
    bad = emu.imds_token("https://vault.azure.net")
    assert bad.status == 400 and bad.json()["error"] == "invalid_resource"
    assert bad.json()["error_description"].startswith("AADSTS500011: ")
    emu.set_identity(imds={"client_id": None})                     # no identity assigned to the "VM"
    assert emu.imds_token().json() == {"error": "invalid_request", "error_description": "Identity not found"}
    emu.set_identity(imds={"user_assigned": ["uami-1"]})
    only = emu.imds_token().json()
    assert only["client_id"] == "uami-1"
    assert emu.imds_token(client_id="uami-1").status == 200


def test_imds_disabled_is_unreachable(emu):
    emu.set_identity(imds={"enabled": False})
    with pytest.raises((ConnectionError, OSError)):
        emu.imds_token()
    assert emu.requests()[-1]["status"] is None
    assert emu.token_requests(endpoint="imds")[-1]["error"] == "unreachable"
    emu.set_identity(imds={"enabled": True})
    assert emu.imds_token().status == 200


def test_imds_short_lifetime_expires_on_the_data_plane(emu):
    emu.set_identity(token_lifetime=2)
    body = emu.imds_token().json()
    assert body["expires_in"] == "2"
    assert files(emu, body["access_token"]).status == 200
    wait_for(lambda: files(emu, body["access_token"]).status == 401, timeout=10, message="the MI token to expire")


# ---- managed identity: App Service -------------------------------------------------------------

def test_app_service_token(emu):
    ident = emu.identity()
    resp = emu.app_service_token("https://cognitiveservices.azure.com")
    assert resp.status == 200, resp
    body = resp.json()
    assert list(body) == ["access_token", "expires_on", "resource", "token_type", "client_id"]
    assert isinstance(body["expires_on"], str) and int(body["expires_on"]) > time.time()
    assert body["client_id"] == ident["app_service"]["client_id"] and body["token_type"] == "Bearer"
    assert files(emu, body["access_token"]).status == 200
    emu.set_identity(app_service={"header": "rotated-secret", "client_id": "sys-mi", "user_assigned": ["ua-1"]})
    assert emu.app_service_token(header="rotated-secret").json()["client_id"] == "sys-mi"
    assert emu.app_service_token(header="rotated-secret", client_id="ua-1").json()["client_id"] == "ua-1"
    assert emu.token_request_counts() == {"app_service": {"managed_identity": 3}}


def test_app_service_errors(emu):
    for header in (False, "wrong"):
        denied = emu.app_service_token(header=header)
        assert denied.status == 401 and denied.json()["statusCode"] == 401
    unknown = emu.app_service_token(client_id="not-assigned")
    assert unknown.status == 400
    assert unknown.json()["message"] == ("No User Assigned or Delegated Managed Identity found for specified "
                                         "ClientId/ResourceId/PrincipalId.")
    assert emu.app_service_token(api_version="2017-09-01").status == 400
    bad = emu.app_service_token("https://vault.azure.net")
    assert bad.status == 500
    assert bad.json()["message"] == "An unexpected error occured while fetching the AAD Token."
    assert set(bad.json()) == {"statusCode", "message", "correlationId"}
    emu.set_identity(app_service={"fail": True})
    assert emu.app_service_token().status == 500
    emu.set_identity(app_service={"fail": False, "enabled": False})
    with pytest.raises((ConnectionError, OSError)):
        emu.app_service_token()


def test_faults_apply_to_identity_endpoints(emu):
    emu.add_client("app-1", secret="s")
    emu.fault(path=r"/oauth2/v2\.0/token$", status=503, times=1)
    resp = emu.entra_token("app-1", secret="s")
    assert resp.status == 503 and resp.json()["error"] == "temporarily_unavailable"
    assert emu.entra_token("app-1", secret="s").status == 200
    emu.fault(path=r"^/metadata/identity", status=500)
    assert emu.imds_token().json()["error"] == "server_error"
    emu.fault(path=r"^/msi/token", status=500)
    assert emu.app_service_token().json()["statusCode"] == 500


# ---- ARM deployments -----------------------------------------------------------------------------

def mgmt_token(emu):
    emu.add_client("arm-app", secret="s")
    resp = emu.entra_token("arm-app", secret="s", scope=MGMT)
    assert resp.status == 200, resp
    return resp.json()["access_token"]


def arm_get(emu, url_or_path, token, version="2023-05-01"):
    if url_or_path.startswith("http"):
        assert url_or_path.startswith(emu.url + "/")
        path = url_or_path[len(emu.url):]
    else:
        path = url_or_path + (f"?api-version={version}" if version else "")
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return emu.request("GET", path, headers=headers)


def test_arm_lists_deployments_across_pages(emu):
    emu.add_deployment("gpt-4o-chat", model="gpt-4o", sku="GlobalStandard", capacity=50)
    emu.add_deployment("embed", model="text-embedding-3-small", sku="Standard", capacity=120)
    emu.add_deployment("dz-batch", model="gpt-4o-mini", sku="DataZoneBatch", capacity=300, version="2024-07-18")
    emu.set_identity(arm={"page_size": 2})
    token = mgmt_token(emu)
    arm = emu.identity()["arm"]
    pages, url = [], emu.arm_deployments_path()
    while url:
        resp = arm_get(emu, url, token)
        assert resp.status == 200, resp
        assert resp.headers["x-ms-request-id"]
        pages.append(resp.json())
        url = resp.json().get("nextLink")
    assert [len(p["value"]) for p in pages] == [2, 2, 1] and "nextLink" not in pages[-1]
    assert "$skipToken=" in pages[0]["nextLink"] and "api-version=2023-05-01" in pages[0]["nextLink"]
    items = [d for p in pages for d in p["value"]]
    assert [d["name"] for d in items] == ["gpt-4o-batch", "gpt-4o-mini-batch", "gpt-4o-chat", "embed", "dz-batch"]
    assert [d["sku"]["name"] for d in items] == ["GlobalBatch", "GlobalBatch", "GlobalStandard", "Standard",
                                                 "DataZoneBatch"]
    first = items[0]
    assert first["id"] == (f"/subscriptions/{arm['subscription']}/resourceGroups/{arm['resource_group']}/providers/"
                           f"Microsoft.CognitiveServices/accounts/{arm['account']}/deployments/gpt-4o-batch")
    assert first["type"] == "Microsoft.CognitiveServices/accounts/deployments"
    assert first["properties"]["model"] == {"format": "OpenAI", "name": "gpt-4o", "version": "2024-08-06"}
    assert first["properties"]["provisioningState"] == "Succeeded" and first["sku"]["capacity"] == 100
    assert set(first["systemData"]) >= {"createdAt", "createdBy", "lastModifiedAt"}
    assert items[4]["properties"]["model"]["version"] == "2024-07-18" and items[4]["sku"]["capacity"] == 300
    one = arm_get(emu, emu.arm_deployments_path("embed"), token, version="2024-10-01")
    assert one.status == 200 and one.json()["properties"]["model"]["name"] == "text-embedding-3-small"
    assert arm_get(emu, emu.arm_deployments_path("nope"), token).status == 404
    emu.set_identity(arm={"page_size": None})
    whole = arm_get(emu, emu.arm_deployments_path(), token, version="2024-10-01").json()
    assert len(whole["value"]) == 5 and "nextLink" not in whole
    bad_skip = arm_get(emu, emu.arm_deployments_path() + "?api-version=2023-05-01&$skipToken=%21%21", token,
                       version=None)
    assert bad_skip.status == 400


def test_arm_not_found_errors(emu):
    token = mgmt_token(emu)
    arm = emu.identity()["arm"]
    base = emu.arm_deployments_path()
    acct = base.replace(f"/accounts/{arm['account']}/", "/accounts/other-account/")
    rg = base.replace(f"/resourceGroups/{arm['resource_group']}/", "/resourceGroups/other-rg/")
    sub = base.replace(arm["subscription"], "00000000-0000-0000-0000-000000000000")
    for path, code in ((acct, "ResourceNotFound"), (rg, "ResourceGroupNotFound"), (sub, "SubscriptionNotFound")):
        resp = arm_get(emu, path, token)
        assert resp.status == 404, resp
        assert resp.json()["error"]["code"] == code
    assert "Microsoft.CognitiveServices/accounts/other-account" in arm_get(emu, acct, token).json()["error"]["message"]
    # ARM paths are case-insensitive
    assert arm_get(emu, base.replace("resourceGroups", "resourcegroups").replace(arm["account"],
                                                                                 arm["account"].upper()),
                   token).status == 200
    missing = arm_get(emu, base, token, version=None)
    assert missing.status == 400 and missing.json()["error"]["code"] == "MissingApiVersionParameter"
    old = arm_get(emu, base, token, version="2099-01-01")
    assert old.status == 400 and old.json()["error"]["code"] == "NoRegisteredProviderFound"


def test_arm_authentication_errors(emu):
    base = emu.arm_deployments_path()
    none = arm_get(emu, base, None)
    assert none.status == 401 and none.json()["error"]["code"] == "AuthenticationFailed"
    assert none.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    assert arm_get(emu, base, "not-a-token").json()["error"]["code"] == "InvalidAuthenticationToken"
    assert arm_get(emu, base, "test-key").json()["error"]["code"] == "InvalidAuthenticationToken"  # keys are not tokens
    emu.add_client("app-1", secret="s")
    cog = emu.entra_token("app-1", secret="s").json()["access_token"]
    wrong = arm_get(emu, base, cog)
    assert wrong.status == 401 and wrong.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    emu.set_identity(token_lifetime=1)
    short = emu.entra_token("app-1", secret="s", scope=MGMT).json()["access_token"]
    wait_for(lambda: arm_get(emu, base, short).status == 401, timeout=10, message="the ARM token to expire")
    expired = arm_get(emu, base, short).json()["error"]
    assert expired["code"] == "ExpiredAuthenticationToken" and "is earlier than current UTC time" in expired["message"]
    emu.set_identity(token_lifetime=3599)
    fresh = emu.entra_token("app-1", secret="s", scope="https://management.core.windows.net//.default")
    assert claims_of(fresh.json()["access_token"])["aud"] == "https://management.core.windows.net/"
    assert arm_get(emu, base, fresh.json()["access_token"]).status == 200
    emu.revoke_tokens(audience="https://management.core.windows.net/")
    assert arm_get(emu, base, fresh.json()["access_token"]).json()["error"]["code"] == "InvalidAuthenticationToken"


def test_arm_without_role_is_forbidden(emu):
    emu.add_client("no-role", secret="s", arm_access=False)
    token = emu.entra_token("no-role", secret="s", scope=MGMT).json()["access_token"]
    resp = arm_get(emu, emu.arm_deployments_path(), token)
    assert resp.status == 403 and resp.json()["error"]["code"] == "AuthorizationFailed"
    assert "Microsoft.CognitiveServices/accounts/deployments/read" in resp.json()["error"]["message"]


def test_arm_names_are_configurable_and_mi_tokens_work(emu):
    emu.set_identity(arm={"subscription": "sub-123", "resource_group": "rg-x", "account": "acct-y"})
    token = emu.imds_token("https://management.azure.com/").json()["access_token"]
    path = emu.arm_deployments_path()
    assert path.startswith("/subscriptions/sub-123/resourceGroups/rg-x/") and "/accounts/acct-y/" in path
    assert arm_get(emu, path, token).json()["value"][0]["id"].startswith("/subscriptions/sub-123/")


def test_non_batch_deployment_is_not_a_batch_target(emu):
    emu.add_deployment("chat-std", model="gpt-4o", sku="Standard")
    created = emu.submit(jsonl(2, model="chat-std"))
    done = emu.wait_batch(created.json()["id"], "failed")
    assert done["errors"]["data"][0]["code"] == "model_not_found"
    ok = emu.submit(jsonl(2, model="gpt-4o-batch"))
    assert emu.wait_batch(ok.json()["id"], "completed")


# ---- control API ---------------------------------------------------------------------------------

def test_identity_settings_validation_and_reset(emu, cert):
    with pytest.raises(EmulatorError, match="unknown identity setting"):
        emu.set_identity(nope=1)
    with pytest.raises(EmulatorError, match="token_lifetime"):
        emu.set_identity(token_lifetime=-1)
    with pytest.raises(EmulatorError, match="unknown imds setting"):
        emu.set_identity(imds={"bogus": True})
    with pytest.raises(EmulatorError, match="page_size"):
        emu.set_identity(arm={"page_size": 0})
    with pytest.raises(EmulatorError, match="unknown client keys"):
        emu._control("POST", "/identity/clients", {"client_id": "x", "password": "y"})
    emu.add_client("app-1", secret="distinctive-secret", certificate=cert.pem)
    token = emu.entra_token("app-1", secret="distinctive-secret").json()["access_token"]
    view = emu.identity()
    assert view["clients"][0]["has_secret"] is True and "distinctive-secret" not in json.dumps(view)
    assert view["clients"][0]["certificates"][0]["thumbprint"] == \
        base64.urlsafe_b64decode(cert.x5t + "=").hex().upper()
    assert emu.tokens()[0]["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    emu.remove_client("app-1")
    assert_aad_error(emu.entra_token("app-1", secret="distinctive-secret"), 400, "unauthorized_client", 700016)
    emu.set_identity(token_lifetime=5)
    emu.reset()
    assert emu.identity()["clients"] == [] and emu.identity()["token_lifetime"] == 3599
    assert emu.tokens() == [] and emu.token_requests() == []
    assert files(emu, token).status == 401


# ---- the fake Azure CLI --------------------------------------------------------------------------

def run_az(emu, *args, **env):
    full = dict(os.environ, BATCHFS_EMULATOR_URL=emu.url)
    full.pop("AZ_FAKE_LOGGED_OUT", None)
    full.update(env)
    return subprocess.run([AZ, *args], env=full, capture_output=True, text=True, timeout=60)


def test_fake_az_get_access_token(emu):
    ident = emu.identity()
    p = run_az(emu, "account", "get-access-token", "--resource", "https://cognitiveservices.azure.com",
               "--output", "json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert list(out) == ["accessToken", "expiresOn", "expires_on", "subscription", "tenant", "tokenType"]
    assert p.stdout.startswith('{\n  "accessToken": ')
    assert out["tokenType"] == "Bearer" and out["tenant"] == ident["tenant"]
    assert out["subscription"] == ident["arm"]["subscription"]
    assert isinstance(out["expires_on"], int) and abs(out["expires_on"] - time.time() - 3599) < 10
    assert out["expiresOn"] == datetime.datetime.fromtimestamp(out["expires_on"]).strftime("%Y-%m-%d %H:%M:%S.%f")
    assert claims_of(out["accessToken"])["exp"] == out["expires_on"]
    assert files(emu, out["accessToken"]).status == 200
    assert emu.token_requests(endpoint="az")[0]["resource"] == "https://cognitiveservices.azure.com"
    # --scope and --tenant (which drops "subscription", as the real CLI does)
    p = run_az(emu, "account", "get-access-token", "--scope", "https://ai.azure.com/.default",
               "--tenant", ident["tenant"], "-o", "json")
    out = json.loads(p.stdout)
    assert "subscription" not in out and claims_of(out["accessToken"])["aud"] == "https://ai.azure.com"
    assert files(emu, out["accessToken"], v1=True).status == 200
    # the default resource is ARM
    p = run_az(emu, "account", "get-access-token")
    out = json.loads(p.stdout)
    assert claims_of(out["accessToken"])["aud"] == "https://management.core.windows.net/"
    assert arm_get(emu, emu.arm_deployments_path(), out["accessToken"]).status == 200
    p = run_az(emu, "account", "get-access-token", "--resource", "https://cognitiveservices.azure.com",
               "--query", "accessToken", "-o", "tsv")
    assert p.returncode == 0 and p.stdout.count(".") == 2 and p.stdout.endswith("\n")
    assert emu.token_request_counts()["az"] == {"azure_cli": 4}


def test_fake_az_errors(emu):
    p = run_az(emu, "account", "get-access-token", "--resource", "https://cognitiveservices.azure.com",
               AZ_FAKE_LOGGED_OUT="1")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr == "ERROR: Please run 'az login' to setup account.\n"
    p = run_az(emu, "account", "get-access-token", "--resource", "https://vault.azure.net")
    assert p.returncode == 1 and p.stderr.startswith("ERROR: AADSTS500011: ")
    p = run_az(emu, "account", "get-access-token", "--tenant", "unknown.example")
    assert p.returncode == 1 and p.stderr.startswith("ERROR: AADSTS90002: ")
    p = run_az(emu, "account", "get-access-token", "--tenant", "t", "--subscription", "s")
    assert p.returncode == 1 and "only one of subscription and tenant" in p.stderr
    p = run_az(emu, "account", "show")
    assert p.returncode == 2
    p = run_az(emu, "account", "get-access-token", "--bogus")
    assert p.returncode == 2
    emu.set_identity(token_lifetime=2)
    token = json.loads(run_az(emu, "account", "get-access-token", "--resource",
                              "https://cognitiveservices.azure.com").stdout)["accessToken"]
    wait_for(lambda: files(emu, token).status == 401, timeout=10, message="the az token to expire")

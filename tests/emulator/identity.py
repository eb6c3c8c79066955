"""Microsoft identity platform surfaces: the Entra ID v2.0 token endpoint (client credentials with a
secret, a certificate assertion or a federated token), the VM IMDS and App Service managed identity
endpoints, and the store of tokens they issue, which the data plane and ARM accept.

Wire formats follow login.microsoftonline.com, IMDS (169.254.169.254) and the App Service
IDENTITY_ENDPOINT as seen by MSAL and azure-identity; AADSTS codes and texts are the service's."""

import base64
import copy
import datetime
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Optional

import faults
import transport
from dialects import APP_SERVICE, ENTRA, IMDS

DEFAULT_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
DEFAULT_MI_CLIENT_ID = "7d2c4e1a-5b3f-4a69-8e0d-1f2a3b4c5d6e"
DEFAULT_IDENTITY_HEADER = "emulator-identity-header"
AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"   # the Azure CLI's public client id
AZ_USER_OID = "3f0b6a2e-9c1d-4e57-b8a4-6d2e1c0f9a7b"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CERT_DOC = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials"
SKEW = 300            # seconds of clock skew allowed for an assertion's nbf/iat
MASKED_FIELDS = ("client_secret", "client_assertion", "assertion", "password", "refresh_token", "code",
                 "device_code")

# Audiences the emulator issues tokens for, by normalised resource (lower case, no trailing slash).
RESOURCES = {
    "https://cognitiveservices.azure.com": "cognitiveservices",
    "https://ai.azure.com": "ai",
    "https://management.azure.com": "management",
    "https://management.core.windows.net": "management",
}
COGNITIVE = "https://cognitiveservices.azure.com"
AI = "https://ai.azure.com"

DEFAULT_SETTINGS = {
    "tenant": DEFAULT_TENANT,          # the directory of the managed identities and of `az`
    "token_lifetime": 3599,            # seconds; expires_in of every token issued
    "imds": {"enabled": True, "client_id": DEFAULT_MI_CLIENT_ID, "user_assigned": []},
    "app_service": {"enabled": True, "fail": False, "header": DEFAULT_IDENTITY_HEADER,
                    "client_id": DEFAULT_MI_CLIENT_ID, "user_assigned": []},
    "arm": {"subscription": "0b1f6471-1bf0-4dda-aec3-cb9272f09590", "resource_group": "batchfs-rg",
            "account": "batchfs-aoai", "location": "eastus", "page_size": None},
}


class IdentityError(ValueError):
    """A control request about identities that cannot be applied."""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    if isinstance(text, str):
        text = text.encode("ascii")
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def norm_resource(resource):
    return (resource or "").strip().rstrip("/").lower()


def resource_kind(resource):
    return RESOURCES.get(norm_resource(resource))


def _uuid_for(*parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "batchfs-emulator:" + ":".join(parts)))


def decode_jwt(text):
    """(header, claims, signing input bytes, signature bytes) of a compact JWS, or None if it is not one."""
    if not isinstance(text, str):
        return None
    parts = text.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims, (parts[0] + "." + parts[1]).encode("ascii"), signature


# ---- certificates ------------------------------------------------------------------------------

@dataclass
class Certificate:
    sha1: bytes
    sha256: bytes
    public_key: object
    not_before: datetime.datetime
    not_after: datetime.datetime

    def summary(self):
        return {"x5t": b64url(self.sha1), "x5t#S256": b64url(self.sha256), "thumbprint": self.sha1.hex().upper(),
                "not_before": self.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_after": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _crypto():
    try:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.hazmat.primitives.serialization import Encoding
    except ImportError as exc:   # pragma: no cover - Debian's python3-cryptography is in scripts/deps
        raise IdentityError("certificate credentials need python3-cryptography") from exc
    return x509, InvalidSignature, hashes, padding, Encoding


def parse_certificates(pem):
    """Certificate objects for every PEM certificate in `pem` (a string or a list of strings)."""
    x509, _, hashes, _, Encoding = _crypto()
    texts = pem if isinstance(pem, list) else [pem]
    out = []
    for text in texts:
        if not isinstance(text, str) or "-----BEGIN CERTIFICATE-----" not in text:
            raise IdentityError("certificate must be a PEM certificate (-----BEGIN CERTIFICATE-----)")
        for block in text.split("-----END CERTIFICATE-----")[:-1]:
            block = block[block.index("-----BEGIN CERTIFICATE-----"):] + "-----END CERTIFICATE-----\n"
            try:
                cert = x509.load_pem_x509_certificate(block.encode("ascii"))
            except ValueError as exc:
                raise IdentityError(f"certificate does not parse: {exc}") from None
            der = cert.public_bytes(Encoding.DER)
            out.append(Certificate(hashlib.sha1(der).digest(), hashlib.sha256(der).digest(), cert.public_key(),
                                   cert.not_valid_before, cert.not_valid_after))
    if not out:
        raise IdentityError("no certificate found in the PEM text")
    return out


def verify_signature(cert, alg, signing_input, signature):
    _, InvalidSignature, hashes, padding, _ = _crypto()
    if alg == "RS256":
        pad = padding.PKCS1v15()
    elif alg == "PS256":
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    else:
        return False
    try:
        cert.public_key.verify(signature, signing_input, pad, hashes.SHA256())
        return True
    except (InvalidSignature, TypeError, ValueError):
        return False


# ---- clients and tokens ------------------------------------------------------------------------

@dataclass
class Client:
    client_id: str
    tenant: str
    secret: Optional[str] = None
    secret_expired: bool = False
    certificates: list = field(default_factory=list)
    federated: list = field(default_factory=list)      # exact token strings
    data_access: bool = True
    arm_access: bool = True

    @property
    def oid(self):
        return _uuid_for("sp", self.tenant.lower(), self.client_id)

    def summary(self):
        return {"client_id": self.client_id, "tenant": self.tenant, "object_id": self.oid,
                "has_secret": self.secret is not None, "secret_expired": self.secret_expired,
                "certificates": [c.summary() for c in self.certificates],
                "federated_tokens": len(self.federated), "data_access": self.data_access,
                "arm_access": self.arm_access}


@dataclass
class Token:
    token: str
    jti: str
    source: str            # entra, imds, app_service, az
    credential: str        # client_secret, certificate, federated, managed_identity, user
    tenant: str
    client_id: str
    oid: str
    aud: str
    issued_at: float
    expires_at: float
    exp: int
    revoked: bool = False
    data_access: bool = True
    arm_access: bool = True

    @property
    def kind(self):
        return resource_kind(self.aud)

    def expired(self, now=None):
        return (time.time() if now is None else now) >= self.expires_at

    def summary(self, now=None):
        return {"jti": self.jti, "token_sha256": hashlib.sha256(self.token.encode()).hexdigest(),
                "source": self.source, "credential": self.credential, "tenant": self.tenant,
                "client_id": self.client_id, "object_id": self.oid, "aud": self.aud,
                "issued_at": self.issued_at, "expires_on": self.exp, "expired": self.expired(now),
                "revoked": self.revoked}

    def log_view(self):
        return {"jti": self.jti, "source": self.source, "client_id": self.client_id, "aud": self.aud}


class IdentityState:
    """Everything the identity surfaces own; reset() restores the start-up state."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.settings = copy.deepcopy(DEFAULT_SETTINGS)
        self.clients = {}
        self.tokens = {}
        self.log = []

    # -- control -------------------------------------------------------------------------------
    def known_tenant(self, tenant):
        t = tenant.lower()
        return t == self.settings["tenant"].lower() or any(c.tenant.lower() == t for c in self.clients.values())

    def view(self):
        return dict(copy.deepcopy(self.settings), clients=[c.summary() for c in self.clients.values()])

    def patch(self, body):
        if not isinstance(body, dict):
            raise IdentityError("the identity patch must be a JSON object")
        new = copy.deepcopy(self.settings)
        for key, value in body.items():
            if key not in DEFAULT_SETTINGS:
                raise IdentityError(f"unknown identity setting {key!r}; known: {', '.join(DEFAULT_SETTINGS)}")
            if key == "tenant":
                if not isinstance(value, str) or not value.strip() or "/" in value:
                    raise IdentityError("tenant must be a non-empty string without '/'")
                new[key] = value
            elif key == "token_lifetime":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise IdentityError("token_lifetime must be a whole number of seconds >= 0")
                new[key] = value
            else:
                if not isinstance(value, dict):
                    raise IdentityError(f"{key} must be an object")
                for k, v in value.items():
                    if k not in DEFAULT_SETTINGS[key]:
                        raise IdentityError(f"unknown {key} setting {k!r}; known: {', '.join(DEFAULT_SETTINGS[key])}")
                    new[key][k] = _check_sub(key, k, v)
        self.settings = new
        return self.view()

    def add_client(self, body):
        if not isinstance(body, dict):
            raise IdentityError("a client must be a JSON object")
        known = {"client_id", "tenant", "secret", "secret_expired", "certificate", "federated_tokens",
                 "data_access", "arm_access"}
        extra = set(body) - known
        if extra:
            raise IdentityError(f"unknown client keys: {', '.join(sorted(extra))}")
        client_id = body.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise IdentityError("client_id must be a non-empty string")
        tenant = body.get("tenant") or self.settings["tenant"]
        if not isinstance(tenant, str) or "/" in tenant:
            raise IdentityError("tenant must be a string without '/'")
        secret = body.get("secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise IdentityError("secret must be a non-empty string")
        certs = parse_certificates(body["certificate"]) if body.get("certificate") else []
        federated = body.get("federated_tokens") or []
        if not isinstance(federated, list) or not all(isinstance(t, str) and t for t in federated):
            raise IdentityError("federated_tokens must be a list of non-empty strings")
        flags = {}
        for k in ("secret_expired", "data_access", "arm_access"):
            if k in body:
                if not isinstance(body[k], bool):
                    raise IdentityError(f"{k} must be a boolean")
                flags[k] = body[k]
        client = Client(client_id, tenant, secret, certificates=certs, federated=list(federated), **flags)
        self.clients[client_id] = client
        return client.summary()

    def add_federated(self, client_id, body, base_url):
        client = self.clients.get(client_id)
        if client is None:
            raise IdentityError(f"no client {client_id!r}")
        if not isinstance(body, dict):
            raise IdentityError("the body must be a JSON object")
        token = body.get("token")
        if token is None:
            now = int(time.time())
            lifetime = body.get("expires_in", 3600)
            if isinstance(lifetime, bool) or not isinstance(lifetime, int):
                raise IdentityError("expires_in must be a whole number")
            claims = {"aud": body.get("audience", "api://AzureADTokenExchange"),
                      "iss": body.get("issuer", base_url + "/oidc"),
                      "sub": body.get("subject", "system:serviceaccount:default:batchfs"),
                      "iat": now, "nbf": now, "exp": now + lifetime, "jti": str(uuid.uuid4())}
            header = {"alg": "RS256", "kid": "emulator-oidc", "typ": "JWT"}
            token = ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                              b64url(secrets.token_bytes(256))])
        elif not isinstance(token, str) or not token:
            raise IdentityError("token must be a non-empty string")
        client.federated.append(token)
        return {"client_id": client_id, "token": token}

    def revoke(self, body):
        client_id = body.get("client_id") if isinstance(body, dict) else None
        audience = body.get("audience") if isinstance(body, dict) else None
        n = 0
        for tok in self.tokens.values():
            if tok.revoked or (client_id and tok.client_id != client_id):
                continue
            if audience and norm_resource(tok.aud) != norm_resource(audience):
                continue
            tok.revoked = True
            n += 1
        return {"revoked": n}

    def token_list(self):
        now = time.time()
        return [t.summary(now) for t in self.tokens.values()]

    def counts(self):
        out = {}
        for e in self.log:
            per = out.setdefault(e["endpoint"], {})
            per[e["grant"] or "none"] = per.get(e["grant"] or "none", 0) + 1
        return out

    def record(self, **entry):
        entry.setdefault("ts", time.time())
        self.log.append(entry)
        return entry

    # -- tokens --------------------------------------------------------------------------------
    def mint(self, source, credential, tenant, client_id, oid, aud, data_access=True, arm_access=True,
             mi_resource_id=None):
        now = time.time()
        lifetime = self.settings["token_lifetime"]
        jti = b64url(secrets.token_bytes(16))
        iat = int(now)
        exp = int(now + lifetime)
        claims = {"aud": aud, "iss": f"https://sts.windows.net/{tenant}/", "iat": iat, "nbf": iat, "exp": exp,
                  "aio": b64url(secrets.token_bytes(24)), "appid": client_id,
                  "appidacr": {"client_secret": "1", "certificate": "2", "federated": "2",
                               "managed_identity": "2", "user": "0"}[credential],
                  "idp": f"https://sts.windows.net/{tenant}/", "idtyp": "user" if credential == "user" else "app",
                  "oid": oid, "rh": "0.emulator.", "sub": oid, "tid": tenant, "uti": jti, "ver": "1.0"}
        if mi_resource_id:
            claims["xms_mirid"] = mi_resource_id
        header = {"typ": "JWT", "alg": "RS256", "x5t": "emulator-signing-key", "kid": "emulator-signing-key"}
        token = ".".join([b64url(json.dumps(header, separators=(",", ":")).encode()),
                          b64url(json.dumps(claims, separators=(",", ":")).encode()),
                          b64url(secrets.token_bytes(256))])
        tok = Token(token, jti, source, credential, tenant, client_id, oid, aud, now, now + lifetime, exp,
                    data_access=data_access, arm_access=arm_access)
        self.tokens[token] = tok
        return tok

    def lookup(self, value):
        return self.tokens.get(value) if value else None

    def issue_for_cli(self, body):
        """`az account get-access-token`: a user token from the emulated directory (control API)."""
        if not isinstance(body, dict):
            raise IdentityError("the body must be a JSON object")
        scopes = body.get("scopes") or body.get("scope")
        if isinstance(scopes, str):
            scopes = scopes.split()
        resource = body.get("resource")
        if scopes:
            resource = scopes[0][:-len("/.default")] if scopes[0].endswith("/.default") else scopes[0]
        resource = resource or "https://management.core.windows.net/"
        tenant = body.get("tenant") or self.settings["tenant"]
        subscription = None if body.get("tenant") else self.settings["arm"]["subscription"]
        entry = self.record(endpoint="az", grant="azure_cli", credential="user", tenant=tenant,
                            client_id=AZURE_CLI_APP_ID, resource=resource, status=200, error=None)
        if not self.known_tenant(tenant):
            entry.update(status=400, error=90002)
            return 400, _aad_body("invalid_tenant", 90002, _tenant_not_found(tenant), None)
        if resource_kind(resource) is None:
            entry.update(status=400, error=500011)
            return 400, _aad_body("invalid_resource", 500011, _resource_not_found(resource, tenant), None)
        tok = self.mint("az", "user", tenant, AZURE_CLI_APP_ID, AZ_USER_OID, resource)
        return 200, {"access_token": tok.token, "token_type": "Bearer", "expires_on": tok.exp,
                     "expires_in": self.settings["token_lifetime"], "resource": resource, "tenant": tenant,
                     "subscription": subscription, "client_id": AZURE_CLI_APP_ID}


def _check_sub(section, key, value):
    if key in ("enabled", "fail"):
        if not isinstance(value, bool):
            raise IdentityError(f"{section}.{key} must be a boolean")
    elif key == "client_id":
        if value is not None and (not isinstance(value, str) or not value):
            raise IdentityError(f"{section}.client_id must be null (no system-assigned identity) or a string")
    elif key == "user_assigned":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise IdentityError(f"{section}.user_assigned must be a list of client ids")
    elif key == "page_size":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise IdentityError("arm.page_size must be null or a whole number >= 1")
    elif not isinstance(value, str) or not value or "/" in value:
        raise IdentityError(f"{section}.{key} must be a non-empty string without '/'")
    return value


# ---- Entra ID error bodies ---------------------------------------------------------------------

def _aad_time(t=None):
    return datetime.datetime.fromtimestamp(time.time() if t is None else t, datetime.timezone.utc) \
        .strftime("%Y-%m-%d %H:%M:%SZ")


def _iso7(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _aad_body(error, code, text, request):
    trace = str(uuid.uuid4())
    corr = (request.headers.get("client-request-id") if request is not None else None) or str(uuid.uuid4())
    stamp = _aad_time()
    return {"error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {stamp}",
            "error_codes": [code], "timestamp": stamp, "trace_id": trace, "correlation_id": corr,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}"}


class AadError(Exception):
    def __init__(self, status, error, code, text):
        super().__init__(text)
        self.status, self.error, self.code, self.text = status, error, code, text


def _tenant_not_found(tenant):
    return (f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
            "the correct cloud. Check with your subscription administrator, this may happen if there are no "
            "active subscriptions for the tenant.")


def _resource_not_found(resource, tenant):
    return (f"The resource principal named {resource} was not found in the tenant named {tenant}. This can happen "
            "if the application has not been installed by the administrator of the tenant or consented to by any "
            "user in the tenant. You might have sent your authentication request to the wrong tenant.")


def _missing(param):
    return AadError(400, "invalid_request", 900144,
                    f"The request body must contain the following parameter: '{param}'.")


def _key_text(client_id):
    return (f"Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app "
            f"Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to "
            "determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/"
            "application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as "
            f"'https://graph.microsoft.com/beta/applications/{client_id}'")


# ---- the token endpoint ------------------------------------------------------------------------

def _json(status, body, headers=None):
    h = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": str(uuid.uuid4())}
    h.update(headers or {})
    reply = transport.json_reply(status, body, h)
    reply.headers["Content-Type"] = "application/json; charset=utf-8"
    return reply


def _base_url(request):
    host = request.headers.get("Host") or f"{request.url.host}:{request.url.port}"
    return f"{request.scheme}://{host}"


async def handle(request, surface, state):
    """Entry for the identity surfaces: returns a transport.Reply (or raises faults.Aborted)."""
    if surface.dialect == ENTRA:
        if request.path.endswith("/openid-configuration"):
            return _openid_configuration(request, state)
        return await _token_endpoint(request, state)
    if surface.dialect == IMDS:
        return _imds(request, state)
    if surface.dialect == APP_SERVICE:
        return _app_service(request, state)
    raise AssertionError(surface.dialect)


def _openid_configuration(request, state):
    tenant = request.path.split("/")[1]
    base = _base_url(request)
    if tenant.lower() not in ("common", "organizations") and not state.identity.known_tenant(tenant):
        return _json(400, _aad_body("invalid_tenant", 90002, _tenant_not_found(tenant), request))
    tid = "{tenantid}" if tenant.lower() in ("common", "organizations") else tenant
    return _json(200, {
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"https://login.microsoftonline.com/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
    })


async def _token_endpoint(request, state):
    ident = state.identity
    tenant = request.path.split("/")[1]
    form = {}
    if request.method == "POST":
        try:
            data = await request.post()
            form = {k: v for k, v in data.items() if isinstance(v, str)}
        except ValueError:
            form = {}
    entry = request.get("log_entry")
    if entry is not None:
        entry["form"] = {k: ("[masked]" if k in MASKED_FIELDS else v) for k, v in form.items()}
    rec = ident.record(endpoint="entra", grant=form.get("grant_type"), credential=None, tenant=tenant,
                       client_id=form.get("client_id"), resource=form.get("scope"), status=None, error=None)
    try:
        reply = _issue(request, state, tenant, form, rec)
    except AadError as exc:
        rec.update(status=exc.status, error=exc.code)
        return _json(exc.status, _aad_body(exc.error, exc.code, exc.text, request))
    rec["status"] = 200
    return reply


def _issue(request, state, tenant, form, rec):
    ident = state.identity
    if request.method != "POST":
        raise AadError(400, "invalid_request", 900561,
                       f"The endpoint only accepts POST, OPTIONS requests. Received a {request.method} request.")
    if tenant.lower() in ("common", "organizations", "consumers"):
        if form.get("grant_type") == "client_credentials":
            raise AadError(400, "invalid_request", 50059, "No tenant-identifying information found in either the "
                           "request or implied by any provided credentials.")
    elif not ident.known_tenant(tenant):
        raise AadError(400, "invalid_tenant", 90002, _tenant_not_found(tenant))
    grant = form.get("grant_type")
    if not grant:
        raise _missing("grant_type")
    if grant != "client_credentials":
        raise AadError(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")
    client_id = form.get("client_id")
    if not client_id:
        raise _missing("client_id")
    scope = form.get("scope")
    if not scope:
        raise _missing("scope")
    client = ident.clients.get(client_id)
    if client is None or client.tenant.lower() != tenant.lower():
        raise AadError(400, "unauthorized_client", 700016,
                       f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This "
                       "can happen if the application has not been installed by the administrator of the tenant or "
                       "consented to by any user in the tenant. You may have sent your authentication request to the "
                       "wrong tenant.")
    secret = form.get("client_secret")
    assertion = form.get("client_assertion")
    if secret is None and assertion is None:
        raise AadError(401, "invalid_client", 7000218,
                       "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
    if assertion is not None:
        atype = form.get("client_assertion_type")
        if not atype:
            raise _missing("client_assertion_type")
        if atype != JWT_BEARER:
            raise AadError(400, "invalid_request", 90011, "Unexpected client assertion type.")
        credential = _check_assertion(request, ident, tenant, client, assertion)
    else:
        if client.secret is None or not secrets.compare_digest(secret.encode(), client.secret.encode()):
            raise AadError(401, "invalid_client", 7000215,
                           "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                           f"secret value, not the client secret ID, for a secret added to app '{client_id}'.")
        if client.secret_expired:
            raise AadError(401, "invalid_client", 7000222,
                           f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure "
                           "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
                           "certificate credentials for added security: https://aka.ms/certCreds.")
        credential = "client_secret"
    rec["credential"] = credential
    scopes = [s for s in scope.split() if s not in ("openid", "profile", "offline_access", "email")]
    if len(scopes) > 1:
        raise AadError(400, "invalid_scope", 70011,
                       "The provided request must include a 'scope' input parameter. The provided value for the input "
                       f"parameter 'scope' is not valid. The scope {scope} is not valid.")
    if not scopes or not scopes[0].endswith("/.default"):
        raise AadError(400, "invalid_scope", 1002012,
                       f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
                       "value with /.default suffixed to the resource identifier (application ID URI).")
    resource = scopes[0][:-len("/.default")]
    rec["resource"] = resource
    if resource_kind(resource) is None:
        raise AadError(400, "invalid_resource", 500011, _resource_not_found(resource, tenant))
    tok = ident.mint("entra", credential, client.tenant, client.client_id, client.oid, resource,
                     data_access=client.data_access, arm_access=client.arm_access)
    lifetime = ident.settings["token_lifetime"]
    return _json(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                       "access_token": tok.token})


def _check_assertion(request, ident, tenant, client, assertion):
    """Validate client_assertion; returns the credential kind ("certificate" or "federated")."""
    if assertion in client.federated:
        parsed = decode_jwt(assertion)
        if parsed is not None:
            _check_times(parsed[1])
        return "federated"
    parsed = decode_jwt(assertion)
    if parsed is None:
        raise AadError(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
    header, claims, signing_input, signature = parsed
    if claims.get("iss") != client.client_id:
        raise AadError(400, "invalid_request", 70021,
                       "No matching federated identity record found for presented assertion. Assertion Issuer: "
                       f"'{claims.get('iss')}'. Assertion Subject: '{claims.get('sub')}'. Assertion Audience: "
                       f"'{_aud_text(claims.get('aud'))}'. https://docs.microsoft.com/en-us/azure/active-directory/"
                       "develop/workload-identity-federation")
    if claims.get("sub") != client.client_id:
        raise AadError(401, "invalid_client", 700021, "Client assertion application identifier doesn't match "
                       f"'client_id' parameter. Review the documentation at {CERT_DOC} .")
    aud = claims.get("aud")
    if isinstance(aud, list):
        if len(aud) > 1:
            raise AadError(401, "invalid_client", 5002741,
                           "Number of audience values in the provided client credential exceed maximum allowed. "
                           f"{len(aud)} audience values provided, maximum allowed is 1.")
        aud = aud[0] if aud else None
    base = _base_url(request)
    accepted = {f"{base}/{tenant}/oauth2/v2.0/token".lower(), f"{base}/{tenant}/oauth2/token".lower(),
                f"{base}/{tenant}/v2.0".lower()}
    if not isinstance(aud, str) or aud.lower() not in accepted:
        raise AadError(401, "invalid_client", 700023,
                       f"Client assertion audience claim does not match Realm issuer. Review the documentation at "
                       f"{CERT_DOC} .")
    for claim in ("exp", "jti"):
        if claim not in claims:
            raise AadError(401, "invalid_client", 50098, f"JWT body must contain '{claim}'.")
    _check_times(claims)
    wanted = None
    if isinstance(header.get("x5t#S256"), str):
        wanted = ("sha256", _b64_or_none(header["x5t#S256"]))
    elif isinstance(header.get("x5t"), str):
        wanted = ("sha1", _b64_or_none(header["x5t"]))
    elif isinstance(header.get("kid"), str):
        kid = header["kid"]
        try:
            wanted = ("sha1", bytes.fromhex(kid))
        except ValueError:
            wanted = ("sha1", _b64_or_none(kid))
    printed = wanted[1].hex().upper() if wanted and wanted[1] else ""
    cert = None
    if wanted and wanted[1]:
        cert = next((c for c in client.certificates if getattr(c, wanted[0]) == wanted[1]), None)
    if cert is None:
        raise AadError(401, "invalid_client", 700027,
                       "The certificate with identifier used to sign the client assertion is not registered on "
                       f"application. [Reason - The key was not found., Thumbprint of key used by client: "
                       f"'{printed}', {_key_text(client.client_id)}]")
    if not verify_signature(cert, header.get("alg"), signing_input, signature):
        found = f"Start={cert.not_before:%m/%d/%Y %H:%M:%S}, End={cert.not_after:%m/%d/%Y %H:%M:%S}"
        raise AadError(401, "invalid_client", 700027,
                       "Client assertion contains an invalid signature. [Reason - Key was found, but use of the key "
                       f"to verify the signature failed., Thumbprint of key used by client: '{printed}', Found key "
                       f"'{found}', {_key_text(client.client_id)}]")
    return "certificate"


def _aud_text(aud):
    return ",".join(map(str, aud)) if isinstance(aud, list) else str(aud)


def _b64_or_none(text):
    try:
        return b64url_decode(text)
    except ValueError:
        return None


def _check_times(claims):
    now = time.time()
    exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
    nums = [v for v in (exp, nbf, iat) if v is not None]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in nums):
        raise AadError(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
    start = nbf if nbf is not None else 0
    if (exp is not None and exp <= now) or start > now + SKEW or (iat is not None and iat > now + SKEW):
        raise AadError(401, "invalid_client", 700024,
                       f"Client assertion is not within its valid time range. Current time: {_iso7(now)}, assertion "
                       f"valid from {_iso7(start)}, expiry time of assertion {_iso7(exp or 0)}. Review the "
                       f"documentation at {CERT_DOC} .")


# ---- managed identity endpoints ----------------------------------------------------------------

def _unreachable(request):
    transport.abort(request, reset=True)
    raise faults.Aborted()


def _mi_identity(section, query):
    """The client id of the managed identity asked for, or None when there is none."""
    if any(k in query for k in ("object_id", "principal_id", "msi_res_id", "mi_res_id")):
        return None
    wanted = query.get("client_id")
    if wanted:
        if wanted == section["client_id"] or wanted in section["user_assigned"]:
            return wanted
        return None
    if section["client_id"]:
        return section["client_id"]
    if len(section["user_assigned"]) == 1:     # a VM with one user-assigned identity answers with it
        return section["user_assigned"][0]
    return None


def _mi_record(request, ident, endpoint, section):
    """Logs a managed-identity token request; a disabled endpoint drops the connection
    (after logging it as unreachable), as nothing listens there off Azure."""
    q = request.query
    rec = ident.record(endpoint=endpoint, grant="managed_identity", credential="managed_identity",
                       tenant=ident.settings["tenant"], client_id=q.get("client_id"), resource=q.get("resource"),
                       status=None, error=None if section["enabled"] else "unreachable")
    if not section["enabled"]:
        _unreachable(request)
    return rec


def _imds_error(status, error, description, rec):
    rec.update(status=status, error=error)
    reply = transport.json_reply(status, {"error": error, "error_description": description})
    reply.headers["Content-Type"] = "application/json; charset=utf-8"
    return reply


def _imds(request, state):
    ident = state.identity
    section = ident.settings["imds"]
    q = request.query
    rec = _mi_record(request, ident, "imds", section)
    if request.method != "GET":
        return _imds_error(405, "invalid_request", f"The method {request.method} is not allowed", rec)
    if request.headers.get("Metadata", "").lower() != "true":
        return _imds_error(400, "invalid_request", "Required metadata header not specified", rec)
    for param in ("api-version", "resource"):
        if not q.get(param):
            return _imds_error(400, "invalid_request", f"Required query variable '{param}' is missing", rec)
    client_id = _mi_identity(section, q)
    if client_id is None:
        return _imds_error(400, "invalid_request", "Identity not found", rec)
    rec["client_id"] = client_id
    resource = q["resource"]
    tenant = ident.settings["tenant"]
    if resource_kind(resource) is None:
        body = _aad_body("invalid_resource", 500011, _resource_not_found(resource, tenant), request)
        return _imds_error(400, "invalid_resource", body["error_description"], rec)
    tok = ident.mint("imds", "managed_identity", tenant, client_id, _uuid_for("mi", client_id), resource,
                     mi_resource_id=_mi_resource_id(ident, client_id))
    rec["status"] = 200
    lifetime = str(ident.settings["token_lifetime"])
    reply = transport.json_reply(200, {
        "access_token": tok.token, "client_id": client_id, "expires_in": lifetime, "expires_on": str(tok.exp),
        "ext_expires_in": lifetime, "not_before": str(int(tok.issued_at)), "resource": resource,
        "token_type": "Bearer"})
    reply.headers["Content-Type"] = "application/json; charset=utf-8"
    return reply


def _mi_resource_id(ident, client_id):
    arm = ident.settings["arm"]
    return (f"/subscriptions/{arm['subscription']}/resourcegroups/{arm['resource_group']}/providers/"
            f"Microsoft.ManagedIdentity/userAssignedIdentities/mi-{client_id[:8]}")


def _app_error(status, message, rec):
    rec.update(status=status, error=message)
    return transport.json_reply(status, {"statusCode": status, "message": message,
                                         "correlationId": str(uuid.uuid4())})


def _app_service(request, state):
    ident = state.identity
    section = ident.settings["app_service"]
    q = request.query
    rec = _mi_record(request, ident, "app_service", section)
    if request.method != "GET":
        return _app_error(405, f"The method {request.method} is not allowed.", rec)
    presented = request.headers.get("X-IDENTITY-HEADER")
    if presented is None or not secrets.compare_digest(presented.encode(), section["header"].encode()):
        return _app_error(401, "Unauthorized", rec)
    if q.get("api-version") != "2019-08-01":
        return _app_error(400, "The api-version is missing or not supported; use 2019-08-01.", rec)
    if not q.get("resource"):
        return _app_error(400, "The resource parameter is required.", rec)
    if section["fail"]:
        return _app_error(500, "An unexpected error occured while fetching the AAD Token.", rec)
    client_id = _mi_identity(section, q)
    if client_id is None:
        return _app_error(400, "No User Assigned or Delegated Managed Identity found for specified "
                               "ClientId/ResourceId/PrincipalId.", rec)
    rec["client_id"] = client_id
    resource = q["resource"]
    if resource_kind(resource) is None:
        return _app_error(500, "An unexpected error occured while fetching the AAD Token.", rec)
    tok = ident.mint("app_service", "managed_identity", ident.settings["tenant"], client_id,
                     _uuid_for("mi", client_id), resource, mi_resource_id=_mi_resource_id(ident, client_id))
    rec["status"] = 200
    return transport.json_reply(200, {"access_token": tok.token, "expires_on": str(tok.exp), "resource": resource,
                                      "token_type": "Bearer", "client_id": client_id})


# ---- the data plane ----------------------------------------------------------------------------

DATA_PLANE_401 = {"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid, audience is "
                  "incorrect (https://cognitiveservices.azure.com), or have expired."}


def data_plane_check(state, value, v1, method, subpath):
    """For a Bearer value that is not a static key: (None, token) when an emulator token is acceptable
    here, (status, body) for a token the gateway refuses, or (False, None) when it is no token at all
    (the caller answers its usual invalid-key 401)."""
    tok = state.identity.lookup(value)
    if tok is None:
        if decode_jwt(value) is not None:
            return 401, DATA_PLANE_401
        return False, None
    accepted = {COGNITIVE, AI} if v1 else {COGNITIVE}
    if tok.revoked or tok.expired() or norm_resource(tok.aud) not in accepted:
        return 401, DATA_PLANE_401
    if not tok.data_access:
        return 401, permission_denied(tok, method, subpath, v1)
    return None, tok


_ID_NAMES = {"files": "{file-id}", "batches": "{batch-id}", "models": "{model-id}", "deployments": "{deployment-id}"}


def permission_denied(tok, method, subpath, v1):
    """401 PermissionDenied: the principal lacks the Cognitive Services OpenAI data action (RBAC)."""
    parts = [p for p in (subpath or "").split("/") if p]
    template = [_ID_NAMES.get(parts[0], p) if i == 1 else p for i, p in enumerate(parts)]
    resource = parts[0] if parts else ""
    if method == "GET":
        verb = "read"
    elif method == "DELETE":
        verb = "delete"
    elif len(parts) > 2:
        verb = "action"
    else:
        verb = "write"
    route = ("/openai/v1/" if v1 else "/openai/") + "/".join(template)
    return {"error": {"code": "PermissionDenied",
                      "message": f"The principal `{tok.oid}` lacks the required data action "
                                 f"`Microsoft.CognitiveServices/accounts/OpenAI/{resource}/{verb}` to perform "
                                 f"`{method} {route}` operation."}}

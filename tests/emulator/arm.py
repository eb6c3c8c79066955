"""Azure Resource Manager: the Cognitive Services account's deployments (list with nextLink paging, get),
behind ARM's bearer-token checks and error bodies."""

import datetime
import hashlib
import json
import time
import uuid

import identity
import transport
from identity import b64url, b64url_decode

# Microsoft.CognitiveServices api-versions that have accounts/deployments.
API_VERSIONS = ("2021-10-01", "2022-03-01", "2022-10-01", "2022-12-01", "2023-05-01", "2023-10-01-preview",
                "2024-04-01-preview", "2024-06-01-preview", "2024-10-01", "2025-04-01-preview", "2025-06-01",
                "2025-07-01-preview")
ALLOWED_AUDIENCES = ("'https://management.core.windows.net/','https://management.core.windows.net',"
                     "'https://management.azure.com/','https://management.azure.com'")
CREATED = "2024-05-13T09:30:00.0000000Z"
# Model versions reported for deployments whose configuration gives none.
MODEL_VERSIONS = {"gpt-4o": "2024-08-06", "gpt-4o-mini": "2024-07-18", "gpt-4.1": "2025-04-14",
                  "gpt-4.1-mini": "2025-04-14", "gpt-4.1-nano": "2025-04-14", "o3-mini": "2025-01-31",
                  "gpt-35-turbo": "0125", "text-embedding-3-small": "1", "text-embedding-3-large": "1"}


def model_version(dep):
    return dep.get("version") or MODEL_VERSIONS.get(dep["model"], "1")


def _headers():
    rid = str(uuid.uuid4())
    return {"x-ms-request-id": rid, "x-ms-correlation-request-id": rid, "Cache-Control": "no-cache",
            "x-ms-ratelimit-remaining-subscription-reads": "11999"}


def _reply(status, body, extra=None):
    h = _headers()
    h.update(extra or {})
    reply = transport.json_reply(status, body, h)
    reply.headers["Content-Type"] = "application/json; charset=utf-8"
    return reply


def _error(status, code, message, extra=None):
    return _reply(status, {"error": {"code": code, "message": message}}, extra)


def _us_time(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    hour = d.hour % 12 or 12
    return f"{d.month}/{d.day}/{d.year} {hour}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}"


def _unauthorized(base, tenant, code, message, description=None):
    challenge = (f'Bearer authorization_uri="{base}/{tenant}", error="invalid_token", '
                 f'error_description="{description or message}"')
    return _error(401, code, message, {"WWW-Authenticate": challenge})


def _authenticate(request, state):
    """(token, None) or (None, 401 Reply)."""
    base = identity._base_url(request)
    tenant = state.identity.settings["tenant"]
    authz = request.headers.get("Authorization")
    if authz is None:
        return None, _unauthorized(base, tenant, "AuthenticationFailed",
                                   "Authentication failed. The 'Authorization' header is missing.",
                                   "The authentication failed because of missing 'Authorization' header.")
    if authz[:7].lower() != "bearer " or not authz[7:].strip():
        return None, _unauthorized(base, tenant, "AuthenticationFailed", "Authentication failed. The "
                                   "'Authorization' header is provided in an invalid format.")
    tok = state.identity.lookup(authz[7:].strip())
    if tok is None or tok.revoked:
        return None, _unauthorized(base, tenant, "InvalidAuthenticationToken", "The access token is invalid.")
    now = time.time()
    if tok.expired(now):
        return None, _unauthorized(base, tok.tenant, "ExpiredAuthenticationToken",
                                   f"The access token expiry UTC time '{_us_time(tok.exp)}' is earlier than current "
                                   f"UTC time '{_us_time(now)}'.")
    if tok.kind != "management":
        return None, _unauthorized(base, tok.tenant, "InvalidAuthenticationTokenAudience",
                                   f"The access token has been obtained for wrong audience or resource '{tok.aud}'. "
                                   f"It should exactly match with one of the allowed audiences {ALLOWED_AUDIENCES}.")
    return tok, None


def deployment_obj(arm, dep):
    rid = (f"/subscriptions/{arm['subscription']}/resourceGroups/{arm['resource_group']}/providers/"
           f"Microsoft.CognitiveServices/accounts/{arm['account']}/deployments/{dep['name']}")
    etag = hashlib.sha256(json.dumps(dep, sort_keys=True).encode()).hexdigest()[:32]
    return {
        "id": rid,
        "type": "Microsoft.CognitiveServices/accounts/deployments",
        "name": dep["name"],
        "sku": {"name": dep["sku"], "capacity": dep["capacity"]},
        "properties": {
            "model": {"format": "OpenAI", "name": dep["model"], "version": model_version(dep)},
            "versionUpgradeOption": "OnceNewDefaultVersionAvailable",
            "currentCapacity": dep["capacity"],
            "raiPolicyName": "Microsoft.DefaultV2",
            "provisioningState": "Succeeded",
        },
        "systemData": {"createdBy": "admin@contoso.onmicrosoft.com", "createdByType": "User", "createdAt": CREATED,
                       "lastModifiedBy": "admin@contoso.onmicrosoft.com", "lastModifiedByType": "User",
                       "lastModifiedAt": CREATED},
        "etag": f'"{etag}"',
    }


def _skip_offset(text):
    try:
        value = json.loads(b64url_decode(text))
        offset = value["o"]
        if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        pass
    return None


async def handle(request, surface, state):
    tok, denied = _authenticate(request, state)
    if denied is not None:
        return denied
    version = request.query.get("api-version")
    arm = state.identity.settings["arm"]
    if not version:
        return _error(400, "MissingApiVersionParameter",
                      "The api-version query parameter (?api-version=) is required for all requests.")
    if version not in API_VERSIONS:
        return _error(400, "NoRegisteredProviderFound",
                      f"No registered resource provider found for location '{arm['location']}' and API version "
                      f"'{version}' for type 'accounts/deployments'. The supported api-versions are "
                      f"'{', '.join(API_VERSIONS)}'. The supported locations are '{arm['location']}'.")
    seg = [s for s in request.path.split("/") if s]
    sub = seg[1]
    if sub.lower() != arm["subscription"].lower():
        return _error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    shape_ok = (len(seg) in (9, 10) and seg[2].lower() == "resourcegroups" and seg[4].lower() == "providers"
                and seg[5].lower() == "microsoft.cognitiveservices" and seg[6].lower() == "accounts"
                and seg[8].lower() == "deployments")
    if not shape_ok:
        return _error(404, "InvalidResourceType",
                      f"The resource type could not be found for the path '{request.path}' and api version "
                      f"'{version}'.")
    rg, account = seg[3], seg[7]
    scope = "/" + "/".join(seg)
    if not tok.arm_access:
        return _error(403, "AuthorizationFailed",
                      f"The client '{tok.client_id}' with object id '{tok.oid}' does not have authorization to perform "
                      "action 'Microsoft.CognitiveServices/accounts/deployments/read' over scope "
                      f"'{scope}' or the scope is invalid. If access was recently granted, please refresh your "
                      "credentials.")
    if rg.lower() != arm["resource_group"].lower():
        return _error(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
    if account.lower() != arm["account"].lower():
        return _error(404, "ResourceNotFound",
                      f"The Resource 'Microsoft.CognitiveServices/accounts/{account}' under resource group '{rg}' was "
                      "not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")
    if request.method != "GET":
        return _error(405, "MethodNotAllowed", f"The emulator answers only GET on deployments, not {request.method}.")
    deployments = state.cfg["deployments"]
    if len(seg) == 10:
        name = seg[9]
        for dep in deployments:
            if dep["name"].lower() == name.lower():
                return _reply(200, deployment_obj(arm, dep))
        return _error(404, "DeploymentNotFound", f"Deployment '{name}' not found.")
    offset = 0
    skip = request.query.get("$skipToken", request.query.get("$skiptoken"))
    if skip is not None:
        offset = _skip_offset(skip)
        if offset is None:
            return _error(400, "InvalidSkipToken", "The provided $skipToken is invalid.")
    size = arm["page_size"] or max(1, len(deployments))
    page = deployments[offset:offset + size]
    body = {"value": [deployment_obj(arm, d) for d in page]}
    if offset + size < len(deployments):
        token = b64url(json.dumps({"o": offset + size}).encode())
        body["nextLink"] = f"{identity._base_url(request)}{request.path}?api-version={version}&$skipToken={token}"
    return _reply(200, body)

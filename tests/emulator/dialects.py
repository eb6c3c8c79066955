"""API surfaces ("dialects"): URL prefixes, accepted api-versions and per-version behaviour."""

import re
from dataclasses import dataclass, field
from typing import Optional

AZURE = "azure"        # /openai/...?api-version=<dated>
AZURE_V1 = "azure_v1"  # /openai/v1/...  (api-version optional: v1 or preview)
OPENAI = "openai"      # /v1/...
ENTRA = "entra"        # /{tenant}/oauth2/v2.0/token, /{tenant}/v2.0/.well-known/openid-configuration
IMDS = "imds"          # /metadata/identity/oauth2/token (Azure VM managed identity)
APP_SERVICE = "app_service"  # /msi/token (App Service / Functions managed identity, IDENTITY_ENDPOINT)
ARM = "arm"            # /subscriptions/... (Azure Resource Manager)
IDENTITY_DIALECTS = (ENTRA, IMDS, APP_SERVICE)

# Dated Azure data-plane versions that have /batches (first in 2024-07-01-preview; GA 2024-10-21;
# 2025-04-01-preview is the latest dated authoring preview).
BATCH_API_VERSIONS = (
    "2024-07-01-preview",
    "2024-08-01-preview",
    "2024-09-01-preview",
    "2024-10-01-preview",
    "2024-10-21",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-02-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
)
# Versions on which the legacy data-plane GET /openai/deployments still answers.
LEGACY_DEPLOYMENT_VERSIONS = ("2022-12-01", "2023-03-15-preview")
V1_API_VERSIONS = ("v1", "preview")

# Per-version differences taken from the two authoring specs we have.
CREATE_BATCH_201_VERSIONS = ("2025-04-01-preview",)      # 201 + deployment-*-enqueued-tokens headers
FILES_PAGINATED_VERSIONS = ("2025-04-01-preview",)       # files list: limit/after/order, has_more
PURPOSES_UPLOAD = {
    "azure_ga": ("fine-tune", "fine-tune-results", "assistants", "assistants_output", "batch"),
    "azure_pv": ("fine-tune", "fine-tune-results", "assistants", "assistants_output", "batch",
                 "batch_output", "evals", "evals_output"),
    AZURE_V1: ("assistants", "batch", "fine-tune", "evals"),
    OPENAI: ("assistants", "batch", "fine-tune", "vision", "user_data", "evals"),
}


_ENTRA_PATH = re.compile(r"/[^/]+/(oauth2/v2\.0/token|v2\.0/\.well-known/openid-configuration)\Z")


@dataclass
class Surface:
    """Where a request landed: dialect, api-version and the path below the dialect's prefix."""
    dialect: str
    api_version: Optional[str]
    subpath: str
    params: dict = field(default_factory=dict)

    @property
    def family(self):
        """'azure' for both Azure surfaces, 'openai' for the OpenAI platform."""
        return "openai" if self.dialect == OPENAI else "azure"

    @property
    def is_azure(self):
        """The Azure OpenAI data plane (dated or v1)."""
        return self.dialect in (AZURE, AZURE_V1)

    @property
    def is_preview(self):
        return self.api_version is not None and self.api_version.endswith("preview")

    def upload_purposes(self):
        if self.dialect == AZURE:
            return PURPOSES_UPLOAD["azure_ga" if not self.is_preview else "azure_pv"]
        return PURPOSES_UPLOAD[self.dialect]

    def create_status(self):
        if self.dialect == AZURE and self.api_version in CREATE_BATCH_201_VERSIONS:
            return 201
        return 200

    def upload_status(self):
        return 201 if self.dialect == AZURE else 200

    def files_paginated(self):
        if self.dialect == AZURE:
            return self.api_version in FILES_PAGINATED_VERSIONS
        return True

    def max_list_batches_limit(self):
        return 100 if self.dialect == OPENAI else None

    def expiry_range(self):
        return (3600, 2592000) if self.dialect == OPENAI else (1209600, 2592000)


def classify(path, query):
    """Map a request path onto a Surface, or None when it belongs to no known API surface.

    The Surface has subpath None when the prefix is known but its api-version is not accepted
    there (the gateway answers 404). The identity and ARM surfaces keep the whole path as subpath.
    """
    if _ENTRA_PATH.match(path):
        return Surface(ENTRA, None, path)
    if path == "/metadata/identity/oauth2/token":
        return Surface(IMDS, query.get("api-version"), path)
    if path == "/msi/token":
        return Surface(APP_SERVICE, query.get("api-version"), path)
    if path.lower().startswith("/subscriptions/"):
        return Surface(ARM, query.get("api-version"), path)
    if path.startswith("/openai/v1/") or path == "/openai/v1":
        version = query.get("api-version")
        sub = path[len("/openai/v1"):]
        if version is not None and version not in V1_API_VERSIONS:
            return Surface(AZURE_V1, version, None)
        return Surface(AZURE_V1, version, sub)
    if path.startswith("/openai/"):
        version = query.get("api-version")
        sub = path[len("/openai"):]
        if version in BATCH_API_VERSIONS or version in LEGACY_DEPLOYMENT_VERSIONS:
            return Surface(AZURE, version, sub)
        return Surface(AZURE, version, None)
    if path.startswith("/v1/"):
        return Surface(OPENAI, None, path[len("/v1"):])
    return None

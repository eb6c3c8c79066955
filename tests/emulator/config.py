"""Emulator configuration: defaults, validation of PATCHed keys and deployment normalisation."""

import copy

STATUSES_WITH_DURATION = ("validating", "in_progress", "finalizing", "cancelling")
BATCH_STATUSES = ("validating", "failed", "in_progress", "finalizing", "completed",
                  "expired", "cancelling", "cancelled")

# Quirks reproduce shapes seen in Microsoft's docs; they apply to the Azure dialects only.
QUIRKS = ("iso_timestamps", "capitalized_status", "null_counts", "errors_data_object",
          "omit_last_id", "empty_string_ids", "null_endpoint", "file_status_null")

DEFAULT_DEPLOYMENTS = "gpt-4o-batch=gpt-4o,gpt-4o-mini-batch=gpt-4o-mini"
BATCH_SKUS = ("GlobalBatch", "DataZoneBatch")     # deployments a batch job may name

DEFAULTS = {
    # Files
    "file_process_delay": 0.0,        # seconds an Azure upload stays "pending"
    "file_stuck_pending": False,      # Azure uploads never leave "pending"
    "file_status_error": False,       # Azure uploads end in "error" instead of "processed"
    "max_file_bytes": 200 * 1024 * 1024,
    "max_files": 500,                 # Azure: purpose=batch files without expiry per resource
    "max_files_with_expiry": 10000,   # Azure: purpose=batch files uploaded with expires_after
    # Batches
    "durations": {"validating": 0.0, "in_progress": 0.0, "finalizing": 0.0, "cancelling": 0.0},
    "hold": None,                     # a status at which every batch stops
    "max_requests": None,             # None: 100000 (Azure) / 50000 (OpenAI)
    "line_fail_prefix": "fail-",      # custom_ids with this prefix fail (error file)
    "output_content_bytes": 0,        # pad each fake completion to this many characters
    "token_limit_exceeded": False,    # True/"fail_fast": create -> 400; "failed": batch fails
    "max_enqueued_tokens": 10_000_000_000,
    # Transport
    "throttle_bps": 0,                # upload and download rate limit, bytes/s (0 = unlimited)
    # Deployments and models
    "deployments": None,              # list of {name, model, sku, capacity, version}; filled at start
    "legacy_deployments_api": True,   # /openai/deployments on 2022-12-01 and 2023-03-15-preview
}
for _q in QUIRKS:
    DEFAULTS[_q] = False


class ConfigError(ValueError):
    """A PATCH of the configuration names an unknown key or carries a bad value."""


def parse_deployments(value):
    """Turn "a,b=model" or a list of names/objects into a list of deployment objects."""
    if value is None:
        value = DEFAULT_DEPLOYMENTS
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if not isinstance(value, list):
        raise ConfigError("deployments must be a list or a comma-separated string")
    out = []
    for item in value:
        if isinstance(item, str):
            name, _, model = item.partition("=")
            item = {"name": name.strip(), "model": model.strip() or name.strip()}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ConfigError("each deployment needs a non-empty name")
        sku = item.get("sku", "GlobalBatch")
        if not isinstance(sku, str) or not sku:
            raise ConfigError("a deployment's sku must be a non-empty string (GlobalBatch, DataZoneBatch, "
                              "Standard, ...)")
        capacity = item.get("capacity", 100)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ConfigError("a deployment's capacity must be a whole number >= 0")
        version = item.get("version")
        if version is not None and (not isinstance(version, str) or not version):
            raise ConfigError("a deployment's version must be a non-empty string")
        dep = {"name": item["name"], "model": item.get("model") or item["name"], "sku": sku,
               "capacity": capacity, "version": version}
        out.append(dep)
    return out


def _check_type(key, value, default):
    if key == "hold":
        if value is not None and value not in BATCH_STATUSES:
            raise ConfigError(f"hold must be null or one of {', '.join(BATCH_STATUSES)}")
        return value
    if key == "max_requests":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError("max_requests must be null or a positive integer")
        return value
    if key == "token_limit_exceeded":
        if value not in (True, False, "fail_fast", "failed"):
            raise ConfigError('token_limit_exceeded must be true, false, "fail_fast" or "failed"')
        return value
    if key == "deployments":
        return parse_deployments(value)
    if key == "durations":
        if not isinstance(value, dict):
            raise ConfigError("durations must be an object")
        for k, v in value.items():
            if k not in STATUSES_WITH_DURATION:
                raise ConfigError(f"unknown duration {k!r}; known: {', '.join(STATUSES_WITH_DURATION)}")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(f"durations.{k} must be a number >= 0")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be a boolean")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{key} must be a number >= 0")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string")
        return value
    return value


def make_default(deployments=None):
    cfg = copy.deepcopy(DEFAULTS)
    cfg["deployments"] = parse_deployments(deployments)
    return cfg


def merged(cfg, patch):
    """Return a new config with `patch` applied (durations merge key by key)."""
    if not isinstance(patch, dict):
        raise ConfigError("the configuration patch must be a JSON object")
    new = copy.deepcopy(cfg)
    for key, value in patch.items():
        if key not in DEFAULTS:
            raise ConfigError(f"unknown configuration key {key!r}")
        value = _check_type(key, value, DEFAULTS[key])
        if key == "durations":
            new["durations"].update({k: float(v) for k, v in value.items()})
        else:
            new[key] = value
    return new

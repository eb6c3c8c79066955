"""Validation of a batch input JSONL file, as the service does it while a batch is "validating"."""

import json
from dataclasses import dataclass, field
from typing import Optional

UTF8_BOM = b"\xef\xbb\xbf"
MAX_REPORTED_ERRORS = 100

# Texts of the Azure docs' error-code table (how-to/batch.md) and known-issues section.
AZURE_MESSAGES = {
    "invalid_json_line": "A line (or multiple) in your input file wasn't able to be parsed as valid json. "
                         "Please ensure there are no typos, proper opening and closing brackets, and quotes "
                         "as per JSON standard, and resubmit the request.",
    "too_many_tasks": "The number of requests in the input file exceeds the maximum allowed value of {max:,} "
                      "requests. Please ensure your total requests are under {max:,} and resubmit the job.",
    "url_mismatch": "Either a row in your input file has a URL that is inconsistent with the rest of the rows, "
                    "or the URL specified in the input file doesn't match the expected endpoint URL. Please "
                    "ensure all request URLs are the same, and that they match the endpoint URL associated "
                    "with your Azure OpenAI deployment.",
    "model_not_found": "The Azure OpenAI model deployment name that was specified in the model property of the "
                       "input file wasn't found. Please ensure this name points to a valid Azure OpenAI model "
                       "deployment.",
    "duplicate_custom_id": "The custom ID for this request is a duplicate of the custom ID in another request.",
    "empty_file": "The input file is empty. Please ensure that the batch contains at least one request.",
    "model_mismatch": "The Azure OpenAI model deployment name that was specified in the model property of this "
                      "request in the input file doesn't match the rest of the file. Please ensure that all "
                      "requests in the batch point to the same AOAI model deployment in the model property of "
                      "the request.",
    "invalid_request": "The schema of the input line is invalid or the deployment SKU is invalid. Please ensure "
                       "the properties of the request in your input file match the expected input properties, "
                       "and that the Azure OpenAI deployment SKU is globalbatch for batch API requests.",
    "bom": "Validation failed: A valid model deployment name couldn't be extracted from the input file. Please "
           "ensure that each row in the input file has a valid deployment name specified in the 'model' field, "
           "and that the deployment name is consistent across all rows.",
}
OPENAI_MESSAGES = {
    "invalid_json_line": "This line is not parseable as valid JSON.",
    "too_many_tasks": "The batch input file is larger than the {max:,} maximum number of requests.",
    "url_mismatch": "The provided URL does not match the URL of the batch endpoint.",
    "duplicate_custom_id": "The custom_id for this request is a duplicate of another request. The custom_id "
                           "parameter must be unique for each request in a batch.",
    "empty_file": "The batch input file is empty.",
    "model_mismatch": "The model for this request does not match the model of the other requests in the batch.",
    "invalid_request": "The request is missing required fields or has an invalid value.",
}


@dataclass
class Result:
    errors: list = field(default_factory=list)
    requests: list = field(default_factory=list)   # (custom_id, fails, prompt_tokens)
    url: Optional[str] = None
    model: Optional[str] = None

    @property
    def ok(self):
        return not self.errors


def normalise_url(url):
    """Azure treats "/chat/completions" and "/v1/chat/completions" as the same endpoint."""
    return url[3:] if url.startswith("/v1/") else url


def _error(family, code, line=None, param=None, **fmt):
    table = OPENAI_MESSAGES if family == "openai" else AZURE_MESSAGES
    message = table.get(code, AZURE_MESSAGES.get(code, code)).format(**fmt)
    return {"code": "model_not_found" if code == "bom" else code, "message": message,
            "param": param, "line": line}


def validate(path, family, endpoint, deployments, max_requests, fail_prefix):
    """Scan the input file; return a Result with the errors or the request summary."""
    res = Result()
    seen = set()
    url0 = model0 = None
    count = 0

    def add(code, line=None, param=None, **fmt):
        if len(res.errors) < MAX_REPORTED_ERRORS:
            res.errors.append(_error(family, code, line, param, **fmt))

    with open(path, "rb") as fh:
        head = fh.read(3)
        if family == "azure" and head == UTF8_BOM:
            res.errors.append(_error(family, "bom"))
            return res
        fh.seek(0)
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            count += 1
            if count > max_requests:
                add("too_many_tasks", max=max_requests)
                break
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                add("invalid_json_line", lineno)
                continue
            if not isinstance(obj, dict):
                add("invalid_json_line", lineno)
                continue
            bad = None
            for key in ("custom_id", "method", "url", "body"):
                if key not in obj:
                    bad = key
                    break
            if bad is None:
                if not isinstance(obj["custom_id"], str) or not obj["custom_id"]:
                    bad = "custom_id"
                elif obj["method"] != "POST":
                    bad = "method"
                elif not isinstance(obj["url"], str):
                    bad = "url"
                elif not isinstance(obj["body"], dict):
                    bad = "body"
                elif not isinstance(obj["body"].get("model"), str):
                    bad = "body.model"
            if bad is not None:
                add("invalid_request", lineno, bad)
                continue
            cid, url, model = obj["custom_id"], obj["url"], obj["body"]["model"]
            if cid in seen:
                add("duplicate_custom_id", lineno, "custom_id")
                continue
            seen.add(cid)
            key_url = normalise_url(url) if family == "azure" else url
            key_endpoint = normalise_url(endpoint) if family == "azure" else endpoint
            if key_url != key_endpoint or (url0 is not None and key_url != url0):
                add("url_mismatch", lineno, "url")
                continue
            url0 = key_url
            if family == "azure" and model not in deployments:
                add("model_not_found", lineno, "body.model")
                continue
            if model0 is not None and model != model0:
                add("model_mismatch", lineno, "body.model")
                continue
            model0 = model
            tokens = max(1, len(raw) // 4)
            res.requests.append((cid, cid.startswith(fail_prefix) if fail_prefix else False, tokens))
    if count == 0:
        add("empty_file")
    if res.errors:
        res.requests = []
    res.url, res.model = url0, model0
    return res

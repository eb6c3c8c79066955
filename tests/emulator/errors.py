"""Error bodies as each surface renders them (Azure dated, Azure v1, OpenAI) and the ApiError exception."""

import uuid

from dialects import APP_SERVICE, ARM, AZURE, AZURE_V1, ENTRA, IMDS, OPENAI

AZURE_401_MESSAGE = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                     "provide a valid key for an active subscription and use a correct regional API "
                     "endpoint for your resource.")
OPENAI_NO_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) "
    "if you're accessing the API from your browser and are prompted for a username and password. You "
    "can obtain an API key from https://platform.openai.com/account/api-keys.")


class ApiError(Exception):
    """An error answer. `code` is the Azure code (spec ErrorCode or documented snake_case);
    `oai_code`/`oai_type` are what the OpenAI platform puts in its error object."""

    def __init__(self, status, code, message, param=None, oai_code=None, oai_type="invalid_request_error",
                 headers=None, oai_message=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.oai_code = oai_code
        self.oai_type = oai_type
        self.headers = headers or {}
        self.oai_message = oai_message or message   # the OpenAI platform words some errors differently


def render(dialect, err):
    """The body of an ApiError as the given surface words it."""
    if dialect == AZURE:
        return {"error": {"code": err.code, "message": err.message}}
    if dialect == AZURE_V1:
        return {"error": {"code": err.code, "message": err.message, "param": err.param, "type": "error"}}
    return {"error": {"message": err.oai_message, "type": err.oai_type, "param": err.param, "code": err.oai_code}}


def bad_request(message, param=None, oai_code=None, code="invalidPayload"):
    return ApiError(400, code, message, param=param, oai_code=oai_code)


def not_found(kind, object_id, param="id"):
    """Unknown file or batch id."""
    noun = "File" if kind == "file" else "Batch"
    return ApiError(404, "notFound", f"{noun} with id '{object_id}' was not found.", param=param,
                    oai_message=f"No such {noun} object: {object_id}")


def route_not_found(dialect, method, path):
    """The gateway's answer for an unknown route or an api-version that lacks it."""
    if dialect == OPENAI:
        return {"error": {"message": f"Invalid URL ({method} {path})", "type": "invalid_request_error",
                          "param": None, "code": None}}
    return {"error": {"code": "404", "message": "Resource not found"}}


def mask_key(key):
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def unauthorized(dialect, presented):
    """401 body: Azure gateway text, or OpenAI's invalid_api_key / missing-key error."""
    if dialect != OPENAI:
        return {"error": {"code": "401", "message": AZURE_401_MESSAGE}}
    if not presented:
        return {"error": {"message": OPENAI_NO_KEY_MESSAGE, "type": "invalid_request_error",
                          "param": None, "code": None}}
    return {"error": {"message": f"Incorrect API key provided: {mask_key(presented)}. You can find your "
                                 "API key at https://platform.openai.com/account/api-keys.",
                      "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}


def _identity_fault_body(dialect, status):
    if dialect in (ENTRA, IMDS):
        error = "temporarily_unavailable" if status in (429, 503) else "server_error"
        return {"error": error, "error_description": "The service is temporarily unavailable. Please retry."
                if error == "temporarily_unavailable" else "An internal server error occurred. Please retry."}
    if dialect == APP_SERVICE:
        return {"statusCode": status, "message": "An unexpected error occured while fetching the AAD Token.",
                "correlationId": str(uuid.uuid4())}
    code = {429: "TooManyRequests", 503: "ServiceUnavailable", 502: "BadGateway", 504: "GatewayTimeout"}
    return {"error": {"code": code.get(status, "InternalServerError"),
                      "message": "The request failed. Please retry." if status == 429 else
                      "The server encountered an internal error. Please retry the request."}}


def default_fault_body(dialect, status):
    """Body used by a `status` fault that gives none: what the service sends for that status."""
    if dialect in (ENTRA, IMDS, APP_SERVICE, ARM):
        return _identity_fault_body(dialect, status)
    if dialect == OPENAI:
        if status == 429:
            return {"error": {"message": "Rate limit reached for requests. Please try again later.",
                              "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
        if status == 503:
            return {"error": {"message": "The server is overloaded or not ready yet.",
                              "type": "server_error", "param": None, "code": "server_is_overloaded"}}
        return {"error": {"message": "The server had an error while processing your request. Sorry about that!",
                          "type": "server_error", "param": None, "code": None}}
    if status == 429:
        return {"error": {"code": "429", "message": "Requests to the Batch Operation under Azure OpenAI API "
                          "have exceeded call rate limit of your current pricing tier. Please retry after "
                          "1 second."}}
    if dialect == AZURE_V1:
        return {"error": {"code": str(status), "message": "The service is temporarily unavailable.",
                          "param": None, "type": "error"}}
    return {"error": {"code": "serviceUnavailable" if status == 503 else "internalFailure",
                      "message": "The service is temporarily unavailable." if status == 503
                      else "Internal error. Please retry."}}

"""Models and deployments listings: Azure ModelList, OpenAI ListModelsResponse, legacy /openai/deployments."""

from dialects import AZURE, OPENAI
from errors import ApiError
from transport import json_reply

CREATED = 1715558400          # fixed, so listings are stable
INFERENCE_END = 1778630400


def _models(cfg):
    seen = []
    for d in cfg["deployments"]:
        if d["model"] not in seen:
            seen.append(d["model"])
    return seen


def _azure_model(name):
    return {"status": "succeeded",
            "capabilities": {"fine_tune": False, "inference": True, "completion": False,
                             "chat_completion": True, "embeddings": False},
            "lifecycle_status": "generally-available", "deprecation": {"inference": INFERENCE_END},
            "id": name, "created_at": CREATED, "object": "model"}


def _openai_model(name, dialect):
    return {"id": name, "object": "model", "created": CREATED,
            "owned_by": "openai" if dialect == OPENAI else "system"}


def _render(name, dialect):
    return _azure_model(name) if dialect == AZURE else _openai_model(name, dialect)


def _missing(model_id):
    return ApiError(404, "notFound", f"The model '{model_id}' does not exist.", param="model",
                    oai_code="model_not_found")


async def list_models(ctx):
    return json_reply(200, {"object": "list", "data": [_render(m, ctx.surface.dialect) for m in _models(ctx.cfg)]})


async def get_model(ctx, model_id):
    if model_id not in _models(ctx.cfg):
        raise _missing(model_id)
    return json_reply(200, _render(model_id, ctx.surface.dialect))


def _deployment(d):
    """Shape of authoring-2022-12-01/examples/get_deployments.json; id is the deployment name."""
    return {"scale_settings": {"capacity": d["capacity"], "scale_type": "standard"}, "model": d["model"],
            "owner": "organization-owner", "id": d["name"], "status": "succeeded",
            "created_at": CREATED, "updated_at": CREATED, "object": "deployment"}


async def legacy_deployments(ctx):
    return json_reply(200, {"data": [_deployment(d) for d in ctx.cfg["deployments"]], "object": "list"})


async def legacy_deployment(ctx, name):
    for d in ctx.cfg["deployments"]:
        if d["name"] == name:
            return json_reply(200, _deployment(d))
    raise ApiError(404, "DeploymentNotFound", "The API deployment for this resource does not exist. If you "
                   "created the deployment within the last 5 minutes, please wait a moment and try again.")

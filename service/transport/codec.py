"""The engine's requests, results, errors and model catalogue as frames (``wire``): arrays as arrays, the rest JSON.

Each ``put_*`` adds a value's arrays to an ``Outgoing`` frame and returns the JSON part that refers to them;
the matching ``get_*`` rebuilds the value from an ``Incoming`` frame. Domain errors travel by class name and
come back as the same class, so the HTTP edge answers exactly as it would in-process.
"""

from __future__ import annotations

from typing import Any

from service import errors
from service.engine.types import (
    ClassModelRequest,
    ClassModelResult,
    ExplainRequest,
    ExplainResult,
    InferenceRequest,
    InferenceResult,
    ModelInfo,
    ModelKey,
    VBPLayer,
    VBPOptions,
    VBPResult,
)
from service.transport.wire import FrameError, Incoming, Outgoing

Json = dict[str, Any]


def put_inference_request(out: Outgoing, request: InferenceRequest) -> Json:
    """An image for ``Engine.infer``."""
    vbp = request.vbp
    options = None if vbp is None else [vbp.normalize_overlap, vbp.keep_layers]
    return {"image": out.array(request.image), "features": list(request.features), "vbp": options}


def get_inference_request(frame: Incoming, item: Json) -> InferenceRequest:
    """The inverse of ``put_inference_request``."""
    options = item["vbp"]
    vbp = None if options is None else VBPOptions(normalize_overlap=bool(options[0]), keep_layers=bool(options[1]))
    return InferenceRequest(frame.array(item["image"]), tuple(str(f) for f in item["features"]), vbp)


def put_inference_result(out: Outgoing, result: InferenceResult) -> Json:
    """One image's forward-pass results."""
    vbp = None
    if result.vbp is not None:
        layers = [[layer.name, out.array(layer.averaged), out.array(layer.mask)] for layer in result.vbp.layers]
        vbp = {"mask": out.array(result.vbp.mask), "layers": layers}
    return {
        "logits": out.array(result.logits),
        "probabilities": out.array(result.probabilities),
        "features": {name: out.array(values) for name, values in result.features.items()},
        "vbp": vbp,
        "timings": result.timings,
    }


def get_inference_result(frame: Incoming, item: Json) -> InferenceResult:
    """The inverse of ``put_inference_result``."""
    vbp = None
    if item["vbp"] is not None:
        layers = tuple(VBPLayer(name, frame.array(a), frame.array(m)) for name, a, m in item["vbp"]["layers"])
        vbp = VBPResult(mask=frame.array(item["vbp"]["mask"]), layers=layers)
    return InferenceResult(
        logits=frame.array(item["logits"]),
        probabilities=frame.array(item["probabilities"]),
        features={name: frame.array(index) for name, index in item["features"].items()},
        vbp=vbp,
        timings=item["timings"],
    )


def put_explain_request(out: Outgoing, request: ExplainRequest) -> Json:
    """An image for ``Engine.explain``."""
    params = [[name, value] for name, value in request.params]
    return {"image": out.array(request.image), "method": request.method, "params": params, "target": request.target}


def get_explain_request(frame: Incoming, item: Json) -> ExplainRequest:
    """The inverse of ``put_explain_request``."""
    params = tuple((str(name), value) for name, value in item["params"])
    target = tuple(float(w) for w in item["target"])
    return ExplainRequest(frame.array(item["image"]), str(item["method"]), params, target)


def put_explain_result(out: Outgoing, result: ExplainResult) -> Json:
    """One image's explanation."""
    return {
        "raw": out.array(result.raw),
        "display": out.array(result.display),
        "logits": out.array(result.logits),
        "probabilities": out.array(result.probabilities),
        "timings": result.timings,
    }


def get_explain_result(frame: Incoming, item: Json) -> ExplainResult:
    """The inverse of ``put_explain_result``."""
    return ExplainResult(
        raw=frame.array(item["raw"]),
        display=frame.array(item["display"]),
        logits=frame.array(item["logits"]),
        probabilities=frame.array(item["probabilities"]),
        timings=item["timings"],
    )


def put_class_model_request(request: ClassModelRequest) -> Json:
    """A class-model visualisation for ``Engine.class_model`` (no arrays)."""
    return {
        "target": list(request.target),
        "steps": request.steps,
        "seed": request.seed,
        "layer": request.layer,
        "channel": request.channel,
    }


def get_class_model_request(item: Json) -> ClassModelRequest:
    """The inverse of ``put_class_model_request``."""
    channel = item["channel"]
    return ClassModelRequest(
        target=tuple(float(w) for w in item["target"]),
        steps=int(item["steps"]),
        seed=int(item["seed"]),
        layer=None if item["layer"] is None else str(item["layer"]),
        channel=None if channel is None else int(channel),
    )


def put_class_model_result(out: Outgoing, result: ClassModelResult) -> Json:
    """A class-model image with its scores."""
    return {
        "image": out.array(result.image),
        "logits": out.array(result.logits),
        "probabilities": out.array(result.probabilities),
        "objective": result.objective,
        "steps": result.steps,
        "compute_ms": result.compute_ms,
    }


def get_class_model_result(frame: Incoming, item: Json) -> ClassModelResult:
    """The inverse of ``put_class_model_result``."""
    return ClassModelResult(
        image=frame.array(item["image"]),
        logits=frame.array(item["logits"]),
        probabilities=frame.array(item["probabilities"]),
        objective=float(item["objective"]),
        steps=int(item["steps"]),
        compute_ms=float(item["compute_ms"]),
    )


def key_json(key: ModelKey) -> list[Any]:
    """A model key as ``[name, version]``."""
    return [key.name, key.version]


def get_key(value: Any) -> ModelKey:
    """The inverse of ``key_json``."""
    try:
        name, version = value
        return ModelKey(str(name), int(version))
    except (TypeError, ValueError):
        raise FrameError(f"not a model key: {value!r}") from None


def model_json(info: ModelInfo) -> Json:
    """A catalogue entry."""
    return {"key": key_json(info.key), "manifest": info.manifest, "default": info.is_default}


def get_model(value: Json) -> ModelInfo:
    """The inverse of ``model_json``."""
    return ModelInfo(get_key(value["key"]), dict(value["manifest"]), bool(value["default"]))


def problems_json(problems: dict[ModelKey, str]) -> list[list[Any]]:
    """Unavailable versions as ``[[name, version, reason], ...]``."""
    return [[key.name, key.version, reason] for key, reason in problems.items()]


def get_problems(value: Any) -> dict[ModelKey, str]:
    """The inverse of ``problems_json``."""
    return {get_key([name, version]): str(reason) for name, version, reason in value or []}


ERROR_CLASSES: dict[str, type[errors.RoadLensError]] = {
    cls.__name__: cls
    for cls in (
        errors.InvalidImage,
        errors.PayloadTooLarge,
        errors.UnsupportedMediaType,
        errors.InvalidParameter,
        errors.NotApplicable,
        errors.UnknownModel,
        errors.Unauthorized,
        errors.ClientError,
        errors.Overloaded,
        errors.NotReady,
        errors.ModelUnavailable,
        errors.DeadlineExceeded,
        errors.InferenceFailed,
        errors.ServiceUnavailable,
    )
}


def error_json(error: BaseException) -> Json:
    """A domain error by class name, code, message and detail; anything else as a failed batch."""
    if not isinstance(error, errors.RoadLensError) or type(error).__name__ not in ERROR_CLASSES:
        error = errors.InferenceFailed("the engine failed on this request")
    retry_after = error.retry_after if isinstance(error, errors.Overloaded) else None
    kind = type(error).__name__
    return {"type": kind, "code": error.code, "message": error.message, "detail": error.detail, "retry": retry_after}


def get_error(value: Json) -> errors.RoadLensError:
    """The inverse of ``error_json``: the same class, code, message and detail."""
    cls = ERROR_CLASSES.get(str(value.get("type")), errors.InferenceFailed)
    message, detail = str(value.get("message", "")), dict(value.get("detail") or {})
    if cls is errors.Overloaded:
        return errors.Overloaded(message, retry_after=float(value.get("retry") or 1.0), detail=detail)
    return cls(message, code=str(value.get("code") or cls.code), detail=detail)

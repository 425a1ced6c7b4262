"""The API's vocabulary: every JSON body the service returns, as it appears on the OpenAPI page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ARRAY_EXAMPLE = {"shape": [96, 96], "dtype": "float32", "data": "AAAAAAAAgD8AAIA/..."}
PROBABILITIES_EXAMPLE = {"road": 0.97}
MODEL_EXAMPLE = {"name": "roadnet", "version": 1}
ERROR_EXAMPLE = {
    "code": "payload_too_large",
    "message": "request body exceeds the limit of 20971520 bytes",
    "detail": {"limit_bytes": 20971520, "setting": "ROADLENS_MAX_BODY_BYTES"},
}


class Schema(BaseModel):
    """Base for response bodies: closed (no extra fields), so the documented shape is the whole shape."""

    model_config = ConfigDict(extra="forbid")


class ErrorInfo(Schema):
    code: str = Field(
        description="Stable machine-readable error code.",
        examples=["invalid_image", "payload_too_large", "invalid_parameter", "overloaded"],
    )
    message: str = Field(
        description="What went wrong, for a human.", examples=["not an image: cannot identify the image format"]
    )
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="Structured context: the limit that was hit, the accepted values, the offending parameter.",
        examples=[{"limit_bytes": 20971520, "setting": "ROADLENS_MAX_BODY_BYTES"}],
    )


class ErrorResponse(Schema):
    """The one error shape of every endpoint, whatever the status code."""

    error: ErrorInfo = Field(description="The error.", examples=[ERROR_EXAMPLE])


class ModelRef(Schema):
    name: str = Field(description="Model name in the store.", examples=["roadnet"])
    version: int = Field(description="Numeric model version.", examples=[1])


class Prediction(Schema):
    probabilities: dict[str, float] = Field(
        description="Sigmoid probability per label, in [0, 1].", examples=[PROBABILITIES_EXAMPLE]
    )
    labels: list[str] = Field(
        description="Labels whose probability is at or above the manifest's threshold for that label.",
        examples=[["road"]],
    )


class PredictResponse(Schema):
    model: ModelRef = Field(description="The model that answered.", examples=[MODEL_EXAMPLE])
    predictions: list[Prediction] = Field(
        description="One entry per uploaded image, in upload order.",
        examples=[[{"probabilities": PROBABILITIES_EXAMPLE, "labels": ["road"]}]],
    )


class EncodedArray(Schema):
    """A numeric array in JSON: C-order, little-endian bytes, base64 (standard alphabet, padded)."""

    shape: list[int] = Field(description="Array shape, e.g. [C, H, W] or [H, W].", examples=[[96, 96]])
    dtype: str = Field(description="NumPy dtype of the decoded bytes (always little-endian).", examples=["float32"])
    data: str = Field(
        description="base64 of the raw little-endian bytes. NumPy: "
        "np.frombuffer(base64.b64decode(data), '<f4').reshape(shape).",
        examples=["AAAAAAAAgD8AAIA/..."],
    )


class FeaturesResponse(Schema):
    model: ModelRef = Field(description="The model that answered.", examples=[MODEL_EXAMPLE])
    features: dict[str, EncodedArray] = Field(
        description="Post-ReLU maps of each requested conv block, keyed by block name, each C x H x W float32.",
        examples=[{"block3": {"shape": [64, 12, 12], "dtype": "float32", "data": "AAAAAAAAgD8AAIA/..."}}],
    )


class VBPLevel(Schema):
    name: str = Field(description="Conv block name.", examples=["block3"])
    averaged: EncodedArray = Field(
        description="The block's post-ReLU maps averaged over channels (H x W), min-max scaled for display.",
        examples=[{"shape": [12, 12], "dtype": "float32", "data": "AAAAAAAAgD8AAIA/..."}],
    )
    mask: EncodedArray = Field(
        description="The intermediate mask at this level: averaged map times the upsampled deeper mask (H x W), "
        "min-max scaled for display.",
        examples=[{"shape": [12, 12], "dtype": "float32", "data": "AAAAAAAAgD8AAIA/..."}],
    )


class VBPResponse(Schema):
    model: ModelRef = Field(description="The model that answered.", examples=[MODEL_EXAMPLE])
    mask: EncodedArray = Field(
        description="VisualBackProp mask, float32 H x W in [0, 1] (model input size, or the upload's size with "
        "size=input).",
        examples=[ARRAY_EXAMPLE],
    )
    probabilities: dict[str, float] = Field(
        description="The model's probabilities for the same image.", examples=[PROBABILITIES_EXAMPLE]
    )
    labels: list[str] = Field(description="Labels at or above their threshold.", examples=[["road"]])
    layers: list[VBPLevel] | None = Field(
        None,
        description="Every level from the deepest block up, present only with layers=true.",
        examples=[[{"name": "block3", "averaged": ARRAY_EXAMPLE, "mask": ARRAY_EXAMPLE}]],
    )


class ModelEntry(Schema):
    name: str = Field(description="Model name.", examples=["roadnet"])
    version: int = Field(description="Numeric version.", examples=[1])
    default: bool = Field(description="True for the model served when a request names none.", examples=[True])
    manifest: dict[str, Any] = Field(
        description="The artifact's manifest: input size and normalisation, labels, thresholds, conv block "
        "geometry, training metrics, checksum.",
        examples=[{"name": "roadnet", "version": 1, "labels": ["road"], "thresholds": {"road": 0.5}}],
    )


class UnavailableModel(Schema):
    name: str = Field(description="Model name.", examples=["roadnet"])
    version: int = Field(description="Numeric version.", examples=[2])
    reason: str = Field(
        description="Why it could not be loaded (paths relative to the model store).",
        examples=["roadnet/2/model.pt has sha256 3f..., the manifest says 9a...: refusing a modified artifact"],
    )


class ModelsResponse(Schema):
    models: list[ModelEntry] = Field(
        description="Every loaded model version, sorted by name then version.",
        examples=[[{"name": "roadnet", "version": 1, "default": True, "manifest": {"labels": ["road"]}}]],
    )
    unavailable: list[UnavailableModel] = Field(
        default_factory=list,
        description="Versions in the model store that could not be loaded, with why; they are not served "
        "(a request naming one answers 503 model_unavailable). Fix the files, then POST /models/reload.",
        examples=[[]],
    )


class Health(Schema):
    status: str = Field(description="'alive' or 'ready'.", examples=["ready"])


class Readiness(Health):
    device: str = Field(description="Device the models run on.", examples=["cuda:0"])
    models: list[ModelRef] = Field(description="Loaded model versions.", examples=[[MODEL_EXAMPLE]])
    unavailable: list[ModelRef] = Field(
        default_factory=list,
        description="Versions in the store that could not be loaded (GET /models says why). The service is ready "
        "while the default model has a version that loads.",
        examples=[[]],
    )


class ExplainResponse(Schema):
    model: ModelRef = Field(description="The model that answered.", examples=[MODEL_EXAMPLE])
    method: str = Field(description="The explanation method.", examples=["gradcam"])
    target: str = Field(
        description="The explained score: a label's logit, or not_<label> for its negation.", examples=["road"]
    )
    params: dict[str, Any] = Field(
        description="Every parameter of the method as used, defaults included.", examples=[{"layer": None}]
    )
    values: str = Field(
        description="display: the map scaled to [0, 1] (unsigned methods min-max; signed ones their positive part "
        "over its maximum); raw: the method's own values (raw=true), signed for occlusion and integrated gradients.",
        examples=["display"],
    )
    map: EncodedArray = Field(
        description="The map, float32 H x W (model input size, or the upload's size with size=input).",
        examples=[ARRAY_EXAMPLE],
    )
    probabilities: dict[str, float] = Field(
        description="The model's probabilities for the same image.", examples=[PROBABILITIES_EXAMPLE]
    )
    labels: list[str] = Field(description="Labels at or above their threshold.", examples=[["road"]])


class MethodParam(Schema):
    name: str = Field(description="Query parameter name.", examples=["samples"])
    type: str = Field(description="boolean, integer, number or string.", examples=["integer"])
    default: Any = Field(
        description="Value used when the parameter is absent (null: see the description).", examples=[25]
    )
    minimum: float | None = Field(description="Smallest accepted value (numbers), from the settings.", examples=[1])
    maximum: float | None = Field(description="Largest accepted value (numbers), from the settings.", examples=[128])
    choices: list[str] | None = Field(description="Accepted values (strings).", examples=[["black", "mean", "blur"]])
    description: str = Field(description="What the parameter does.", examples=["Noisy copies averaged."])


class MethodInfo(Schema):
    name: str = Field(description="Method name, the last segment of POST /explain/{method}.", examples=["smoothgrad"])
    applicable: bool = Field(description="False for a method this architecture cannot support.", examples=[True])
    reason: str | None = Field(
        None,
        description="Why the method does not apply (applicable=false only).",
        examples=["CAM needs global average pooling directly before the output layer..."],
    )
    summary: str | None = Field(
        None,
        description="What the method computes, with its reference.",
        examples=["SmoothGrad (Smilkov et al., 2017): ..."],
    )
    cost: str | None = Field(
        None, description="Forward/backward passes per image.", examples=["samples x (forward + backward)"]
    )
    uses_target: bool | None = Field(
        None, description="False when the map is the same whatever the target.", examples=[True]
    )
    signed: bool | None = Field(
        None, description="True when raw maps are signed (positive: evidence for the target).", examples=[False]
    )
    params: list[MethodParam] = Field(description="The method's own query parameters.", examples=[[]])


class MethodsResponse(Schema):
    model: ModelRef = Field(description="The model the limits and choices below refer to.", examples=[MODEL_EXAMPLE])
    targets: list[str] = Field(description="Accepted values of target.", examples=[["road", "not_road"]])
    default_target: str = Field(description="The target used when none is given.", examples=["road"])
    max_batch: int = Field(
        description="Most forward passes per device batch (ROADLENS_EXPLAIN_MAX_BATCH; default 16 on CPU, 128 on "
        "CUDA).",
        examples=[16],
    )
    methods: list[MethodInfo] = Field(
        description="Every method, the inapplicable ones with their reason.",
        examples=[[{"name": "saliency", "applicable": True, "params": []}]],
    )


MASK_EXAMPLE = {"shape": [96, 96], "dtype": "uint8", "data": "AAAAAQEBAAAA..."}


class RoadPiece(Schema):
    box: list[int] = Field(
        description="Bounding box [x0, y0, x1, y1] in pixels of the returned mask (x1 and y1 exclusive).",
        examples=[[0, 12, 96, 40]],
    )
    pixels: int = Field(description="Road pixels of this piece in the returned mask.", examples=[214])
    length_px: float = Field(
        description="Length of the piece's skeleton (Zhang-Suen) in pixels of the returned mask: 1 per "
        "horizontal or vertical step, sqrt(2) per diagonal one.",
        examples=[101.4],
    )
    length_m: float | None = Field(
        None,
        description="The same length in metres of the uploaded image (present when gsd_m is given).",
        examples=[304.2],
    )


class SegmentRuleInfo(Schema):
    method: str = Field(description="The explanation method whose map locates the road.", examples=["visualbackprop"])
    normalize_overlap: bool = Field(
        description="visualbackprop: the overlap-normalised variant (no checkerboard).", examples=[True]
    )
    evidence: float = Field(
        description="Step 1: pixels whose map (scaled to [0, 1]) reaches this value form the region.",
        examples=[0.15],
    )
    grow: int = Field(description="Step 1: the region grown by this many pixels.", examples=[2])
    line_radius: int = Field(
        description="Step 2: light lines narrower than 2 x line_radius + 1 pixels are kept (white top-hat).",
        examples=[2],
    )
    contrast: float = Field(
        description="Step 3: the factor on Otsu's threshold of the line strength inside the region.", examples=[0.8]
    )
    min_length: float = Field(
        description="Step 4: pieces spanning less than this many model pixels (their bounding box's diagonal) are "
        "dropped.",
        examples=[10.0],
    )
    calibrated: bool = Field(
        description="True when these values were measured for this model (python -m training.explanations."
        "calibrate, stored in its manifest); false: the defaults.",
        examples=[True],
    )


class SegmentResponse(Schema):
    model: ModelRef = Field(description="The model that answered.", examples=[MODEL_EXAMPLE])
    road: bool = Field(
        description="Whether the model calls the tile road (probability at or above the manifest's threshold); "
        "a road-free tile gets an empty mask.",
        examples=[True],
    )
    probabilities: dict[str, float] = Field(
        description="The model's probabilities for the same image.", examples=[PROBABILITIES_EXAMPLE]
    )
    labels: list[str] = Field(description="Labels at or above their threshold.", examples=[["road"]])
    rule: SegmentRuleInfo = Field(
        description="How the mask was cut from the evidence (the model's calibrated rule).",
        examples=[{"method": "visualbackprop", "evidence": 0.15, "calibrated": True}],
    )
    mask: EncodedArray = Field(
        description="The road mask, uint8 H x W, 1 = road (model input size, or the upload's size with size=input).",
        examples=[MASK_EXAMPLE],
    )
    road_pixels: int = Field(description="Road pixels in the mask.", examples=[412])
    length_px: float = Field(description="Skeleton length of all pieces, in pixels of the mask.", examples=[180.7])
    gsd_m: float | None = Field(
        None, description="The ground sample distance given (metres per pixel of the upload).", examples=[3.0]
    )
    length_m: float | None = Field(
        None, description="Skeleton length of all pieces in metres (present when gsd_m is given).", examples=[542.1]
    )
    pieces: list[RoadPiece] = Field(
        description="The mask's connected road pieces (8-connected), longest first.",
        examples=[[{"box": [0, 12, 96, 40], "pixels": 214, "length_px": 101.4}]],
    )


class ClassModelResponse(Schema):
    model: ModelRef = Field(description="The model that answered.", examples=[MODEL_EXAMPLE])
    target: str | None = Field(
        description="The raised score: a label or not_<label> (null when a layer's channel was raised).",
        examples=["road"],
    )
    layer: str | None = Field(None, description="The conv block whose channel was raised, if any.", examples=[None])
    channel: int | None = Field(None, description="The raised channel of that block, if any.", examples=[None])
    steps: int = Field(description="Gradient-ascent steps run.", examples=[100])
    seed: int = Field(description="The seed of the starting image.", examples=[0])
    objective: float = Field(
        description="The raised score at the end: the target's logit (negated for not_<label>), or the channel's "
        "mean activation.",
        examples=[21.7],
    )
    probabilities: dict[str, float] = Field(
        description="The model's probabilities for the image (road >= 0.99 for target=road, <= 0.01 for not_road "
        "at the default steps).",
        examples=[{"road": 0.9999}],
    )
    labels: list[str] = Field(description="Labels at or above their threshold for the image.", examples=[["road"]])
    image: EncodedArray = Field(
        description="The image, float32 H x W x 3 RGB in [0, 1] at the model's input size.",
        examples=[{"shape": [96, 96, 3], "dtype": "float32", "data": "AAAAAAAAgD8AAIA/..."}],
    )
    compute_ms: float = Field(
        description="Milliseconds the ascent took on the device when it was made (cached results repeat it).",
        examples=[412.0],
    )

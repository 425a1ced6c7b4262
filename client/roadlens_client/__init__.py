"""Python client for the RoadLens service: road probabilities, feature maps, explanations and road masks of satellite
tiles.

    from roadlens_client import Client

    with Client("http://127.0.0.1:8000") as roadlens:
        print(roadlens.predict("tile.png").predictions[0].probability)

``AsyncClient`` offers the same calls for asyncio. Errors are the tree in ``roadlens_client.errors``.
"""

from roadlens_client.aio import AsyncClient
from roadlens_client.client import Client
from roadlens_client.errors import (
    APIError,
    DeadlineExceeded,
    InvalidImage,
    InvalidParameter,
    NotApplicable,
    NotFound,
    NotReady,
    Overloaded,
    PayloadTooLarge,
    RequestError,
    RoadLensError,
    ServerError,
    ServiceError,
    Timeout,
    TransportError,
    Unauthorized,
    UnexpectedResponse,
    UnsupportedMediaType,
)
from roadlens_client.models import (
    ClassModel,
    Explanation,
    FeatureMaps,
    Health,
    MethodCatalog,
    MethodInfo,
    MethodParameter,
    ModelInfo,
    ModelRef,
    Picture,
    Prediction,
    PredictResult,
    Readiness,
    RoadPiece,
    Segmentation,
    VBPLevel,
    VBPResult,
)
from roadlens_client.retry import RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AsyncClient",
    "ClassModel",
    "Client",
    "DeadlineExceeded",
    "Explanation",
    "FeatureMaps",
    "Health",
    "InvalidImage",
    "InvalidParameter",
    "MethodCatalog",
    "MethodInfo",
    "MethodParameter",
    "ModelInfo",
    "ModelRef",
    "NotApplicable",
    "NotFound",
    "NotReady",
    "Overloaded",
    "PayloadTooLarge",
    "Picture",
    "PredictResult",
    "Prediction",
    "Readiness",
    "RequestError",
    "RetryPolicy",
    "RoadLensError",
    "RoadPiece",
    "Segmentation",
    "ServerError",
    "ServiceError",
    "Timeout",
    "TransportError",
    "Unauthorized",
    "UnexpectedResponse",
    "UnsupportedMediaType",
    "VBPLevel",
    "VBPResult",
    "__version__",
]

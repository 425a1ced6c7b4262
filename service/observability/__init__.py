"""Prometheus metrics of the service."""

from service.observability.metrics import Metrics, ModelMetrics

__all__ = ["Metrics", "ModelMetrics"]

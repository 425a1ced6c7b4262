"""Tests of the explanation methods."""

# The methods the service promises, written out here (not read from the registry) so a lost one fails a test.
SERVED_METHODS = (
    "visualbackprop",
    "saliency",
    "smoothgrad",
    "guided_backprop",
    "gradcam",
    "guided_gradcam",
    "occlusion",
    "integrated_gradients",
)

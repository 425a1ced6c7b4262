"""The Ray tests' environment, set before anything imports Ray.

Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, when it is first imported: with it off, a local cluster
registers its node on 127.0.0.1 and binds its listeners there instead of on the machine's external interface.
The processes a cluster starts inherit both variables.
"""

from __future__ import annotations

import os

from tests.ray.cluster import CLUSTER_ENVIRONMENT

os.environ.update(CLUSTER_ENVIRONMENT)

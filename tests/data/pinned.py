"""The bytes the generator tests pin: a new generator version must leave every older one tile for tile."""

from __future__ import annotations

import hashlib

from training.data.synthetic import SyntheticConfig, make_tile


def first_tiles_digest(version: int, count: int = 40) -> str:
    """sha256 of the images of tiles 0 to ``count`` - 1 of seed 0, as generator ``version`` draws them."""
    config = SyntheticConfig(version=version)
    return hashlib.sha256(b"".join(make_tile(0, i, config).image.tobytes() for i in range(count))).hexdigest()

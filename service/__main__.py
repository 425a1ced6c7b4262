"""``python -m service``: flags and ``ROADLENS_*`` environment variables -> ``Settings`` -> uvicorn.

Every ``Settings`` field has a flag (``--max-batch-size 16``; booleans as ``--warmup/--no-warmup``); a flag
wins over its environment variable, which wins over the default. ``--write-openapi PATH`` writes the OpenAPI
document as YAML (``-`` for stdout) and exits: ``python -m service --write-openapi openapi.yaml``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.config import Settings, default_workers


def build_parser() -> argparse.ArgumentParser:
    """One flag per settings field, help text from the field's description."""
    parser = argparse.ArgumentParser(prog="python -m service", description="RoadLens inference service.")
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = f"{field.description} [env ROADLENS_{name.upper()}]"
        if field.annotation is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, metavar=name.upper(), help=help_text)
    parser.add_argument("--write-openapi", metavar="PATH", help="write the OpenAPI document (YAML) and exit")
    return parser


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the given flags over the environment; exits with one line per bad value, saying why."""
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        raise SystemExit("\n".join(describe_invalid(error))) from None


def describe_invalid(error: ValidationError) -> list[str]:
    """One line per invalid setting: its name, variable and flag, and why; never the value (it may be a key)."""
    lines = []
    for problem in error.errors():
        why = str(problem["msg"]).removeprefix("Value error, ")
        name = ".".join(str(part) for part in problem["loc"])
        if not name:  # a rule between settings
            lines.append(f"invalid settings: {why}")
            continue
        flag = "--" + name.replace("_", "-")
        lines.append(f"invalid setting {name} (ROADLENS_{name.upper()}, {flag}): {why}")
    return lines


def openapi_yaml(settings: Settings) -> str:
    """The app's OpenAPI document as YAML (PyYAML, a development dependency, is imported only here)."""
    import yaml

    from service.app import create_app

    class Dumper(yaml.SafeDumper):
        """Multi-line descriptions as literal blocks, so the file reads like the page it describes."""

    def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, represent_str)
    document = create_app(settings).openapi()
    return yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=120)


def main(argv: list[str] | None = None) -> None:
    """Parse flags, then serve (or write the OpenAPI document)."""
    args = build_parser().parse_args(argv)
    settings = load_settings(args)
    if args.write_openapi:
        text = openapi_yaml(settings)
        if args.write_openapi == "-":
            sys.stdout.write(text)
        else:
            Path(args.write_openapi).write_text(text)
        return
    workers = settings.workers if settings.workers is not None else default_workers(settings)
    if workers == 0:
        serve_in_process(settings)
    else:
        serve_supervised(settings, workers)


def serve_in_process(settings: Settings) -> None:
    """One process: HTTP, the batch queues and the device worker together."""
    import logging.config

    from service.app import create_app
    from service.server.http import log_config
    from service.server.serve import serve

    logging.config.dictConfig(log_config(settings))
    serve(create_app(settings), settings)


def serve_supervised(settings: Settings, workers: int) -> None:
    """``workers`` HTTP front-end processes and one engine process, under a supervisor (this process)."""
    import logging.config

    from service.server.http import log_config
    from service.server.supervisor import Supervisor

    logging.config.dictConfig(log_config(settings))
    raise SystemExit(Supervisor(settings, workers).run())


if __name__ == "__main__":
    main()

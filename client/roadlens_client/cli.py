"""``roadlens``: the command line of the RoadLens client.

    roadlens predict tiles/ 'more/**/*.jpg' --json
    roadlens visualbackprop tile.png -o mask.png --overlay
    roadlens features tile.png --layer block1 -o grid.png
    roadlens explain gradcam tile.png -o gradcam.png --overlay
    roadlens segment tile.png -o roads.json --gsd-m 3
    roadlens class-model -o road.png --target road
    roadlens serve --port 8000          (python -m service)
    roadlens train --dry-run            (python -m training.train)

Errors are one line on stderr, never a traceback, and the exit code says what kind of failure it was.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from roadlens_client import commands
from roadlens_client.base import DEFAULT_TIMEOUT, DEFAULT_URL
from roadlens_client.batch import NoInputs
from roadlens_client.commands import EXIT_FAILED, EXIT_NOT_INSTALLED, EXIT_OK, EXIT_USAGE, UsageError
from roadlens_client.errors import APIError, RequestError, TransportError, Unauthorized, UnexpectedResponse

EXIT_UNREACHABLE = 3  # no answer from the server: not running, wrong URL, timeout
EXIT_REJECTED = 4  # the server refused the request (4xx): bad image or parameter, missing key, unknown model
EXIT_UNAVAILABLE = 5  # the server could not serve it (429 / 503 after the retries, 504, 5xx)
EXIT_INTERRUPTED = 130
PASS_THROUGH = {"serve": "service", "train": "training.train"}

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}  success
  {EXIT_FAILED}  predict: some files got an error answer (each is listed); or an answer that is not RoadLens'
  {EXIT_USAGE}  bad arguments, or an input file that does not exist
  {EXIT_UNREACHABLE}  the server did not answer (not running, wrong --url, timeout)
  {EXIT_REJECTED}  the server refused the request (not an image, bad parameter, API key, unknown model)
  {EXIT_UNAVAILABLE}  the server could not serve it (overloaded or not ready after the retries, or failed)
  {EXIT_NOT_INSTALLED}  serve / train: the server package is not installed

environment:
  ROADLENS_URL      default for --url ({DEFAULT_URL})
  ROADLENS_API_KEY  default for --api-key
"""


def _connection_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("server")
    group.add_argument("--url", default=os.environ.get("ROADLENS_URL", DEFAULT_URL), help="server URL (%(default)s)")
    group.add_argument("--api-key", default=os.environ.get("ROADLENS_API_KEY"), help="API key, sent as a bearer token")
    group.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per attempt (%(default)s)")
    group.add_argument("--retries", type=int, default=3, help="retries on 429 / 503, honouring Retry-After (3)")
    group.add_argument("--model", help="model name (default: the server's default model)")
    group.add_argument("--model-version", type=int, help="model version (default: the newest)")
    return parent


def _add(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Callable[[argparse.Namespace], int],
    help_text: str,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        parents=list(parents),
        epilog="exit codes and environment variables: roadlens --help",
    )
    parser.set_defaults(handler=handler)
    return parser


def _mask_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the image (PNG, JPEG, WebP, BMP or TIFF)")
    parser.add_argument("-o", "--output", required=True, help="output file; its suffix picks the format ('-': stdout)")
    parser.add_argument("--overlay", action="store_true", help="PNG: the map as a heat map over the image")
    parser.add_argument(
        "--size", choices=["model", "input"], default="model", help="model input size (96 x 96) or the image's size"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``roadlens`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="roadlens",
        description="Road probabilities, feature maps and explanations of satellite tiles from a RoadLens server.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server = _connection_options()

    predict = _add(sub, "predict", commands.predict, "road probability of each image", [server])
    predict.add_argument("inputs", nargs="+", metavar="PATH", help="image files, folders (searched) or glob patterns")
    predict.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    predict.add_argument("-j", "--concurrency", type=_positive, default=8, help="requests in flight (%(default)s)")
    predict.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, help="progress bar on stderr (default: on a terminal)"
    )

    vbp = _add(
        sub, "visualbackprop", commands.visualbackprop, "VisualBackProp mask of an image (.png or .npy)", [server]
    )
    _mask_options(vbp)
    vbp.add_argument("--normalize-overlap", action="store_true", help="remove the checkerboard texture")

    features = _add(sub, "features", commands.features, "feature maps of the conv blocks (.png grid or .npz)", [server])
    features.add_argument("file", help="the image")
    features.add_argument("--layer", dest="layers", action="append", help="a block name, repeatable (default: all)")
    features.add_argument("-o", "--output", required=True, help="grid.png or maps.npz ('-': PNG on stdout)")

    explain = _add(sub, "explain", commands.explain, "another explanation method's map (.png or .npy)", [server])
    explain.add_argument("method", help="e.g. saliency, smoothgrad, gradcam, occlusion (see: roadlens methods)")
    _mask_options(explain)
    explain.add_argument("--target", help="the explained score: road (default) or not_road")
    explain.add_argument("--raw", action="store_true", help=".npy: the method's own (signed) values, not [0, 1]")
    explain.add_argument(
        "--param", dest="params", action="append", default=[], metavar="NAME=VALUE", help="a method parameter"
    )

    segment = _add(
        sub,
        "segment",
        commands.segment,
        "road mask of an image (.png, .npy) or its pieces and lengths (.json)",
        [server],
    )
    _mask_options(segment)
    segment.add_argument("--gsd-m", type=float, help=".json: metres per pixel of the image, for lengths in metres")

    class_model = _add(
        sub,
        "class-model",
        commands.class_model,
        "the image the model scores highest for a class (.png, .npy)",
        [server],
    )
    class_model.add_argument("-o", "--output", required=True, help="output file; its suffix picks the format")
    class_model.add_argument("--target", help="road (default) or not_road")
    class_model.add_argument("--steps", type=_positive, help="gradient-ascent steps (server default 64, at most 500)")
    class_model.add_argument("--seed", type=int, help="seed of the starting image (default 0)")
    class_model.add_argument("--layer", help="raise a channel of this conv block instead of a target")
    class_model.add_argument("--channel", type=int, help="the channel of --layer")

    _add(sub, "methods", commands.methods, "list the explanation methods and their parameters", [server])
    _add(sub, "models", commands.models, "list the server's models", [server])
    _add(sub, "health", commands.health, "is the server ready? (exit 0 when it is)", [server])
    for name, module in PASS_THROUGH.items():
        # Listed for --help only: run() hands these commands' arguments, --help included, to the module.
        sub.add_parser(name, help=f"run `python -m {module}` (every argument passes through, try --help)")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def fail(message: str, code: int) -> int:
    """Print ``message`` the way argparse prints its errors; return ``code``."""
    print(f"roadlens: error: {message}", file=sys.stderr)
    return code


def api_failure(error: APIError) -> int:
    """One line for an error answer, with a hint where one helps."""
    hint = " (pass --api-key or set ROADLENS_API_KEY)" if isinstance(error, Unauthorized) else ""
    code = EXIT_REJECTED if isinstance(error, RequestError) else EXIT_UNAVAILABLE
    return fail(f"{error.status} {error.code}: {error.message}{hint}", code)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, map every failure to an exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in PASS_THROUGH:
        return commands.run_module(PASS_THROUGH[arguments[0]], arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        return int(args.handler(args))
    except (UsageError, NoInputs) as error:
        return fail(str(error), EXIT_USAGE)
    except APIError as error:
        return api_failure(error)
    except TransportError as error:
        return fail(f"{error}; is the server running? (roadlens serve)", EXIT_UNREACHABLE)
    except UnexpectedResponse as error:  # is --url a RoadLens server?
        return fail(str(error), EXIT_FAILED)
    except OSError as error:  # reading an input or writing an output
        return fail(f"{error.filename or ''}: {error.strerror or error}", EXIT_USAGE)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run(argv))


if __name__ == "__main__":
    main()

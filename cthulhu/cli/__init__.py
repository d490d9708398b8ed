"""The ``cthulhu`` command line: thin wrappers that parse, call the library, and exit.

Each sub-command lives in its own module of this package and provides
``add_parser(subparsers)`` and ``run(args) -> int``. Modules are imported only
when their sub-command runs, so ``cthulhu shape`` never imports NumPy. A
sub-command that needs an optional extra is checked here, before its module
runs, so a base install gets one line saying what to install (exit status 2).
"""

import argparse
import importlib
import logging
import sys

DESCRIPTION = """\
cthulhu: Keras-2-style neural-network layers on NumPy, CuPy and Dask.

Work out the shapes of a chain of layers, run a saved model over a 3D volume
larger than memory, or see which devices can run here."""

EPILOG = """\
examples:
  cthulhu demo                   the built-in example, end to end
  cthulhu shape "Cthalpa2D(64, 3, strides=2, padding='same')" --input "(None, 224, 224, 3)"
  cthulhu predict model.cthulhu --input scan.zarr --output labels.zarr
  cthulhu convert model.h5 model.cthulhu
  cthulhu inspect model.keras
  cthulhu devices

'cthulhu COMMAND --help' describes one command. Documentation: the docs/ folder
of the source, or the documentation site built from it (mkdocs build)."""

# sub-command -> (module, one-line help, the extra it needs or None)
COMMANDS = {
    "demo": ("cthulhu.cli.demo", "run the built-in example: shapes, then a model over a "
             "generated volume", "dask"),
    "shape": ("cthulhu.cli.shape", "print the output shapes, receptive field and halo of "
              "layers", None),
    "predict": ("cthulhu.cli.predict", "run a saved model over a volume on disk, block by "
                "block", "dask"),
    "convert": ("cthulhu.cli.convert", "convert a model file (cthulhu, Keras .keras/.h5) to "
                ".cthulhu, .keras or .h5, with a certificate check", None),
    "inspect": ("cthulhu.cli.inspect_file", "print the kind and summary of a model file "
                "without loading its weights", None),
    "devices": ("cthulhu.cli.devices", "list the device plugins and whether they can run here",
                None),
}

log = logging.getLogger(__name__)


class CliError(Exception):
    """An error the user caused: printed as one line, exit status 2."""


def _add_verbosity(parser, default):
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=default,
                       help="say more: -v what runs where, -vv debugging detail")
    group.add_argument("-q", "--quiet", action="count", default=default,
                       help="print errors only")


def _parser(selected):
    parser = argparse.ArgumentParser(prog="cthulhu", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-V", "--version", action="version", version=_version_line())
    _add_verbosity(parser, default=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text, _) in COMMANDS.items():
        if name == selected:
            command = importlib.import_module(module_name).add_parser(sub)
            # SUPPRESS: a sub-command default must not undo 'cthulhu -v COMMAND'
            _add_verbosity(command, default=argparse.SUPPRESS)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _version_line() -> str:
    from cthulhu import __version__
    from cthulhu._extras import DISTRIBUTION

    return (f"cthulhu {__version__} (distribution {DISTRIBUTION}, Python "
            f"{sys.version.split()[0]})")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests and notebooks replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(verbose: int = 0, quiet: int = 0) -> None:
    """Show the ``cthulhu`` loggers on stderr: warnings by default, ``-v`` info, ``-vv``
    debug, ``-q`` errors only."""
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(
        verbose, logging.DEBUG)
    logger = logging.getLogger("cthulhu")
    for handler in [h for h in logger.handlers if getattr(h, "_cthulhu_cli", False)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    handler._cthulhu_cli = True
    logger.addHandler(handler)
    logger.setLevel(level)


def main(argv=None) -> int:
    from cthulhu._extras import MissingExtraError, explain_missing, require

    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if a in COMMANDS), None)
    parser = _parser(selected)
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", 0), getattr(args, "quiet", 0))
    module_name, _, extra = COMMANDS[args.command]
    try:
        if extra is not None:
            require(extra, f"cthulhu {args.command}")
        log.debug("running %s with %s", module_name, vars(args))
        return int(importlib.import_module(module_name).run(args) or 0)
    except MissingExtraError as exc:
        print(f"cthulhu {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        hint = explain_missing(exc)
        if hint is None:
            raise
        print(f"cthulhu {args.command}: error: {hint}", file=sys.stderr)
        return 2
    except (CliError, ValueError, TypeError, OSError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError) and exc.strerror and str(exc).startswith("[Errno"):
            # "[Errno 2] No such file or directory: 'x'" -> "x: no such file or directory"
            where = exc.filename if exc.filename is not None else "error"
            message = f"{where}: {exc.strerror[:1].lower()}{exc.strerror[1:]}"
        print(f"cthulhu {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cthulhu {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

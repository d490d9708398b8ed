"""The ``cthulhu`` command line: thin wrappers that parse, call the library, and exit.

Each sub-command lives in its own module of this package and provides
``add_parser(subparsers)`` and ``run(args) -> int``. Modules are imported only
when their sub-command runs, so ``cthulhu shape`` never imports NumPy.
"""

import argparse
import importlib
import sys

# sub-command -> (module, one-line help)
COMMANDS = {
    "demo": ("cthulhu.cli.demo", "run the built-in example end to end"),
    "shape": ("cthulhu.cli.shape", "output shapes, receptive field and halo of a layer chain"),
    "predict": ("cthulhu.cli.predict", "run a saved model over a volume on disk, out of core"),
    "devices": ("cthulhu.cli.devices", "list the device plugins and whether they can run"),
}


class CliError(Exception):
    """An error the user caused: printed as one line, exit status 2."""


def _parser(selected):
    parser = argparse.ArgumentParser(prog="cthulhu", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        if name == selected:
            importlib.import_module(module_name).add_parser(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if a in COMMANDS), None)
    parser = _parser(selected)
    args = parser.parse_args(argv)
    try:
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
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

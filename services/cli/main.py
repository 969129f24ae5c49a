"""The `convforge` command. Each subcommand lives in its own module with `add_arguments` and `run`."""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, help). Modules are imported only when their command runs.
COMMANDS = {
    "summary": ("services.cli.summary", "print a network definition's per-layer summary"),
    "up": ("services.cli.stack", "migrate, start Redis if needed, a worker and the API"),
    "api": ("services.cli.stack", "serve the REST API with gunicorn"),
    "worker": ("services.cli.stack", "start a Celery worker"),
    "migrate": ("services.cli.stack", "upgrade the database schema to the latest version"),
    "train": ("services.cli.jobs", "submit a training job and follow its progress"),
    "jobs": ("services.cli.jobs", "list jobs"),
    "status": ("services.cli.jobs", "show one job"),
    "datasets": ("services.cli.datasets", "add or list datasets"),
    "predict": ("services.cli.predict", "print a trained model's top classes for images or arrays"),
    "export": ("services.cli.predict", "download a trained model as ONNX"),
    "import": ("services.cli.predict", "bring in an ONNX model made of convforge's operators"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="convforge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # Only the chosen command's module is imported, so `convforge summary` needs no database or broker.
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text)
        if name == chosen:
            importlib.import_module(module_name).add_arguments(name, command_parser)
    args, rest = parser.parse_known_args(argv)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args.command, args) or 0)


if __name__ == "__main__":
    sys.exit(main())

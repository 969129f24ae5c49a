"""The `convforge` command. Each subcommand lives in its own module with `add_arguments` and `run`."""
from __future__ import annotations

import argparse
import sys

from services.cli import accounts, datasets, delete, jobs, predict, stack, summary

# subcommand -> (module that adds its arguments and runs it, help)
COMMANDS = {
    "summary": (summary, "print a network definition's per-layer summary"),
    "up": (stack, "migrate, start Redis if needed, a worker and the API"),
    "api": (stack, "serve the REST API with gunicorn"),
    "worker": (stack, "start a Celery worker"),
    "migrate": (stack, "upgrade the database schema to the latest version"),
    "train": (jobs, "submit a training job and follow its progress"),
    "jobs": (jobs, "list jobs"),
    "status": (jobs, "show one job"),
    "datasets": (datasets, "add or list datasets"),
    "users": (accounts, "add or list users (on the server's machine)"),
    "tokens": (accounts, "create, list or revoke API tokens (on the server's machine)"),
    "predict": (predict, "print a trained model's top classes for images or arrays"),
    "export": (predict, "download a trained model as ONNX"),
    "import": (predict, "bring in an ONNX model made of convforge's operators"),
    "delete": (delete, "delete a network, dataset, model or finished job"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convforge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        module.add_arguments(name, sub.add_parser(name, help=help_text))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return int(COMMANDS[args.command][0].run(args.command, args) or 0)


if __name__ == "__main__":
    sys.exit(main())

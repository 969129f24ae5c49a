"""`convforge delete KIND ID`: delete a network, dataset, model or finished job over the REST API."""
from __future__ import annotations

import argparse
import sys

from services.cli.rest import ApiClient, ApiError
from shared.config import load_settings

# kind on the command line -> its collection in the API
COLLECTIONS = {"network": "networks", "dataset": "datasets", "model": "models", "job": "jobs"}


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=tuple(COLLECTIONS))
    parser.add_argument("id", type=int)


def run(command: str, args: argparse.Namespace) -> int:
    try:
        ApiClient(load_settings().api_url).delete(f"/{COLLECTIONS[args.kind]}/{args.id}")
    except ApiError as exc:
        print(f"convforge {command}: {exc}", file=sys.stderr)
        return 1
    print(f"deleted {args.kind} {args.id}")
    return 0

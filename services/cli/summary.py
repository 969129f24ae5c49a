"""`convforge summary FILE.json`: a network definition's per-layer shapes, parameters and cost."""
from __future__ import annotations

import json
import sys

from shared.cnn import DefinitionError, summarize


def add_arguments(command_name: str, parser) -> None:
    parser.add_argument("file", help="network definition (JSON)")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--explain", action="store_true", help="add each layer's arithmetic")
    form.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(command_name: str, args) -> int:
    try:
        with open(args.file, encoding="utf-8") as stream:
            document = json.load(stream)
    except OSError as exc:
        print(f"convforge summary: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        print(f"convforge summary: {args.file} is not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        summary = summarize(document)
    except DefinitionError as exc:
        print(f"convforge summary: {args.file} is not a valid network definition:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error['msg']}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(summary.as_text())
        if args.explain:
            print()
            print(summary.explain())
    return 0

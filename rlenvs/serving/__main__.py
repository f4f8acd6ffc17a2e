"""``python -m rlenvs.serving ENV-ID ...``: the same as ``rlenvs serve-env``."""

import argparse
import sys

from rlenvs.serving.cli import add_serve_env_parser

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m rlenvs.serving")
    args = parser.parse_args(["serve-env", *sys.argv[1:]]) if add_serve_env_parser(
        parser.add_subparsers(dest="command")) else None
    sys.exit(args.func(args))

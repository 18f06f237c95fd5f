"""`python -m emb_opt demo`: the embedded demo."""

import sys

from .demo import run_demo


def main(argv: list[str]) -> int:
    if argv[:1] != ["demo"]:
        print("usage: python -m emb_opt demo", file=sys.stderr)
        return 2
    run_demo()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

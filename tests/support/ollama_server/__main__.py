"""`python -m tests.support.ollama_server --port PORT --data DIR [--fail PATH=STATUS]`: prints its URL, serves until killed."""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.support.ollama_server.server import StandInServer


def _fault(text: str) -> tuple[str, int]:
    path, _, status = text.partition("=")
    return path, int(status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local stand-in for Ollama's blob/create/tags/show API.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    parser.add_argument("--data", type=Path, required=True, help="folder for blobs and models")
    parser.add_argument("--fail", type=_fault, action="append", default=[], help="PATH=STATUS: answer PATH with that error status")
    args = parser.parse_args(argv)
    server = StandInServer(args.data, args.port, dict(args.fail))
    print(server.url, flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

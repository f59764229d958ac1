"""``python -m sepconv.service``: start the service without the ``sepconv`` console script."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sepconv.service", description="Run sepconv's REST service.")
    p.add_argument("--host", help="address to listen on (default: SEPCONV_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: SEPCONV_PORT or 8000)")
    p.add_argument("--workers", type=int, help="conversion worker processes (default: SEPCONV_WORKERS or 2)")
    p.add_argument("--data-dir", help="models, datasets and the job database (default: SEPCONV_DATA_DIR)")
    args = p.parse_args(argv)
    from .server import serve
    try:
        serve(host=args.host, port=args.port, workers=args.workers, data_dir=args.data_dir)
    except ValueError as exc:
        print(f"sepconv: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

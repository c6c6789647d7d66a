"""Serve the demo site alone: ``python -m aggregator.demo [--host H] [--port P]``.

Prints the site's address, its feeds and its OPML, then serves until interrupted. Handy for
trying ``aggregator feeds add``, ``aggregator parse`` or ``aggregator extract`` offline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aggregator.demo.render import OPML_PATH
from aggregator.demo.server import start_demo_site


async def serve(host: str, port: int) -> None:
    site = await start_demo_site(host=host, port=port)
    try:
        print(f"demo site: {site.base_url}/", flush=True)
        for title, url, category in site.feed_urls:
            print(f"  feed: {url}  ({title}; {category})", flush=True)
        print(f"  OPML: {site.base_url}{OPML_PATH}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await site.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aggregator.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    options = parser.parse_args(argv)
    asyncio.run(serve(options.host, options.port))


if __name__ == "__main__":
    main()

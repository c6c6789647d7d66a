"""`aggregator extract URL`: fetched through the project's fetcher from a local server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from aggregator.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "extract"
LOOPBACK = {"AGGREGATOR_ALLOWED_NETWORKS": "127.0.0.1/32"}


def _app() -> web.Application:
    async def story(request: web.Request) -> web.Response:
        return web.Response(
            body=(FIXTURES / "jsonld.html").read_bytes(), content_type="text/html", charset="utf-8"
        )

    async def russian(request: web.Request) -> web.Response:
        # The charset is only in the HTTP header; the page itself declares none.
        html = (
            "<html><body><article><h1>Совет</h1>"
            + "".join(
                f"<p>Заседание {n}: городской совет утвердил новый бюджет на лето после долгих споров.</p>"
                for n in range(8)
            )
            + "</article></body></html>"
        )
        return web.Response(
            body=html.encode("koi8-r"), headers={"Content-Type": "text/html; charset=koi8-r"}
        )

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="not here")

    app = web.Application()
    app.router.add_get("/story", story)
    app.router.add_get("/russian", russian)
    app.router.add_get("/missing", missing)
    return app


@pytest.fixture
def site() -> Iterator[str]:
    """A real aiohttp server on 127.0.0.1 in its own thread (the CLI runs its own loop)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app())
    loop.run_until_complete(runner.setup())
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(tcp.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_extract_url_as_json(site: str) -> None:
    result = CliRunner().invoke(main, ["extract", f"{site}/story", "--json"], env=LOOPBACK)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["title"] == "Port authority reopens the northern harbour after storm repairs"
    assert data["text"].startswith("The northern harbour will reopen")
    # Relative links resolve against the fetched URL.
    assert f'href="{site}/business/harbour-traders-losses"' in data["html"]


def test_extract_url_uses_the_header_charset(site: str) -> None:
    result = CliRunner().invoke(main, ["extract", f"{site}/russian", "--json"], env=LOOPBACK)
    assert result.exit_code == 0, result.output
    # Without the header, the bytes would decode as windows-1252 mojibake.
    assert "городской совет утвердил новый бюджет" in json.loads(result.output)["text"]


@pytest.mark.parametrize(
    ("path", "env", "message"),
    [
        ("/missing", LOOPBACK, "404"),
        ("/story", {"AGGREGATOR_ALLOWED_NETWORKS": ""}, "127.0.0.1"),  # the address guard holds
    ],
)
def test_extract_url_failures_are_one_line(
    site: str, path: str, env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(main, ["extract", f"{site}{path}", "--json"], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output

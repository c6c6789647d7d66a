"""aggregator web view: aiohttp.web app factory, routes, templates."""

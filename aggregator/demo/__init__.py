"""The offline demo: a bundled local sample site with feeds in four formats.

``start_demo_site()`` serves a WordPress-style blog ("Discovery Headlines", built from the
project's founding example), a news wire (Atom), a sanctions newsletter (RSS 1.0) and a local
paper (JSON Feed 1.1) on 127.0.0.1. ``demo_feeds``/``demo_opml`` give the subscriptions.
Everything ships inside the package; nothing is read from outside it at run time.
"""

from aggregator.demo.content import DemoArticle, DemoSource, demo_sources
from aggregator.demo.render import OPML_PATH, Resource, build_site, demo_feeds, demo_opml
from aggregator.demo.server import DemoSite, create_demo_app, start_demo_site

__all__ = [
    "OPML_PATH",
    "DemoArticle",
    "DemoSite",
    "DemoSource",
    "Resource",
    "build_site",
    "create_demo_app",
    "demo_feeds",
    "demo_opml",
    "demo_sources",
    "start_demo_site",
]

"""aggregator: an RSS/Atom/JSON Feed aggregator and curator with explainable topic feeds."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/aggregator-project/aggregator"

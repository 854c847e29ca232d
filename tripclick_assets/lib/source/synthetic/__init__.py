"""Deterministic synthetic TripClick logs in exactly the real dump format (``logs/YYYY-MM-DD.json``
lines plus ``logs/allarticles.txt``; see ``docs/contracts.md``), tuned to the published statistics."""

from tripclick_assets.lib.source.synthetic.articles import article_for
from tripclick_assets.lib.source.synthetic.catalogue import ARTICLES_FILE, write_articles
from tripclick_assets.lib.source.synthetic.cli import main
from tripclick_assets.lib.source.synthetic.day import GenerationSummary, ensure_days, generate_day
from tripclick_assets.lib.source.synthetic.files import day_file
from tripclick_assets.lib.source.synthetic.malformed import MALFORMED_KINDS
from tripclick_assets.lib.source.synthetic.model import DOCUMENT_ID_SPACE, default_volume

__all__ = [
    "ARTICLES_FILE",
    "DOCUMENT_ID_SPACE",
    "MALFORMED_KINDS",
    "GenerationSummary",
    "article_for",
    "day_file",
    "default_volume",
    "ensure_days",
    "generate_day",
    "main",
    "write_articles",
]

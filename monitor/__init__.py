"""monitor: a self-hosted news-monitoring pipeline.

Polls feeds, fetches and extracts articles, dedupes, tags actors, matches watchlists,
delivers digests.
"""

__version__ = "0.1.0"

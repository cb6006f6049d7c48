"""The pipeline stages (pure modules) and the runner that calls them in order."""

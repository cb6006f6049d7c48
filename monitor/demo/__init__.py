"""The offline demo: a bundled corpus of articles written for it and a loopback server."""

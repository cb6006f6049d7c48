"""The offline demo: a bundled corpus built from the seed articles and a loopback server."""

"""Digest building, Jinja2 rendering, mailers (SMTP / file) and report files."""

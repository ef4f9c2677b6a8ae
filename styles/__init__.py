"""Textual CSS: app.tcss and one file per screen."""

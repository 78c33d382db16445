"""Example protocols, one per route, shipped as JSON package data (see ``load_example``)."""

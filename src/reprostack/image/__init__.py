"""Dockerfiles and images: render them from repro.yaml, build them, tag them by content."""

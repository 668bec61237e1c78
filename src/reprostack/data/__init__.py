"""Datasets as part of a run: manifests, quick change checks, toy subsets, READMEs.

``repro.yaml``'s ``data:`` names the datasets; ``lockfiles/data/<name>.json`` pins each one's
files by content hash; a local cache (outside git) makes re-checks cost a ``stat`` per file.
"""

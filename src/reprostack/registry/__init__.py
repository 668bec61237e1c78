"""Images that leave the machine: the registry repository of a project, digests, push, pull.

A registry digest (``sha256:…`` of the manifest) is the identity of an image everywhere else:
runs record it with the repository it is in, and nothing is ever pulled by tag.
"""

"""A script-only project: prod copies it, nothing is installed from it."""

import alpha

print("scripts", alpha.VERSION)

"""A stand-in training script."""

import alpha
import beta
import caseapp

print(caseapp.MESSAGE, alpha.VERSION, beta.VERSION)

"""The stack fingerprint: every fact that decides whether a run can be reproduced."""

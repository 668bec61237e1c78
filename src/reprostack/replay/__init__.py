"""``repro replay``: re-run a recorded run in its exact code (and container), and verify it."""

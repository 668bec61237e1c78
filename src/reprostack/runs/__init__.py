"""Run records: ``runs/<run-id>/`` folders, how they are made, found, shown and compared."""

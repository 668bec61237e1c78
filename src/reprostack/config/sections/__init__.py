"""One module per section of repro.yaml: its dataclass (the keys and their types), its closed
vocabularies (``Literal`` types) and the checks its keys need beyond their type."""

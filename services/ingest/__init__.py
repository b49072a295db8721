"""The ingest service: HTTP in, validated and cleaned articles out to the ``articles`` topic."""

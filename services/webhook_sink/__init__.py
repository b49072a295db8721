"""The demo webhook receiver: verifies signatures, prints and records alerts (``app.create_app``)."""

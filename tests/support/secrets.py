"""Test-only Standard Webhooks secrets (``whsec_`` + base64 of a 24-byte key); never real keys."""

SECRET = "whsec_jqKa/frLjjr7/1qzAZgH8OHtWoFZf3Kc"
"""The default subscriber secret of the tests."""
OTHER_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""A second, different secret (rotation, a second subscriber, a wrong key)."""

"""newsalert: watch rules matched against a Kafka article stream, alerts delivered to signed webhooks.

Package map (where a change goes):

- ``newsalert.domain``   pure core: text cleaning, the query language, the matching engine, the
                         delivery policy and webhook signing. No aiokafka, faust or aiohttp imports.
- ``newsalert.adapters`` the edges: the broker boundary (publish/subscribe), topic admin, the local
                         Kafka broker lifecycle, the outbound HTTP client.
- ``newsalert.cli``      the ``newsalert`` command; each sub-command parses, calls the core or a service.
- ``newsalert.config``   every ``NEWSALERT_*`` setting with its documented default.
- ``services.*``         one thin entrypoint per running service (ingest, matcher, notifier, ...).
- ``schemas``            every message on the wire, as pydantic models.
"""

__version__ = "0.1.0"

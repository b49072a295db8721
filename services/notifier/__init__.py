"""The notifier: consumes alerts from ``matches`` and POSTs each one, signed, to its subscriber.

``main.run`` wires it. ``consumer.Notifier`` is the loop (fetch, ``flow`` control, commits,
rebalances); ``intake`` decodes each record and dead-letters the unusable; ``claims`` suppresses
repeated stories; ``lanes`` queue deliveries per subscriber and hold alerts for digests;
``deliver`` makes one attempt (through ``breakers``, with ``sender.WebhookSender``) and produces
what follows (``produce``) before settling; ``offsets.OffsetTracker`` decides what may be
committed; ``states.SubscriberStates`` knows which subscribers a 410 disabled; ``metrics`` is
``/metrics``; ``history`` reads the delivery topics back for ``newsalert deliveries``.
"""

"""The notifier: consumes alerts from ``matches`` and POSTs each one, signed, to its subscriber.

``main.run`` wires it; ``service.Notifier`` is the consumer loop (retries through the retry
topics, dead letters, attempt records); ``sender.WebhookSender`` makes one HTTP attempt;
``offsets.OffsetTracker`` decides what may be committed; ``states.SubscriberStates`` knows which
subscribers a 410 disabled; ``metrics`` is ``/metrics``; ``history`` reads the delivery topics
back for ``newsalert deliveries``.
"""

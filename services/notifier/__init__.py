"""The notifier: consumes alerts from ``matches`` and POSTs each one, signed, to its subscriber.

``main.run`` wires it; ``service.Notifier`` is the consumer loop; ``sender.WebhookSender`` makes
the HTTP attempts; ``offsets.OffsetTracker`` decides what may be committed.
"""

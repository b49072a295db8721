"""The matcher service: a faust worker matching each article against the watch rules.

``main.run`` wires it, ``app.build_app`` builds the faust app and its agent, ``processing`` is the
pure per-record guard (article in, alerts or a dead letter out).
"""

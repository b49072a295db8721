"""The subscription API (``newsalert serve api``): webhook subscriptions over HTTP, see docs/api.md."""

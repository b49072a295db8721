"""``newsalert serve feeds``: poll RSS, Atom and JSON Feed URLs and publish new entries as articles."""

"""A certificate authority and a broker certificate for the local SASL_SSL listener, made with
``openssl`` once per home (``kafka/tls/``) and reused, so clients keep trusting the same CA.

The broker certificate names ``127.0.0.1`` and ``localhost``, so clients check host names as
they would against a real cluster. The broker's key is not encrypted: it is a throw-away key of a
loopback test listener, readable only by its owner (mode 0600).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from newsalert.adapters.local_kafka.logs import tail_text
from newsalert.errors import SetupError

DAYS = "825"
INSTALL_OPENSSL = "install OpenSSL (Debian: apt-get install openssl)"


def ca_file(tls_dir: Path) -> Path:
    """The CA certificate clients must trust (NEWSALERT_KAFKA_SSL_CAFILE)."""
    return tls_dir / "ca.pem"


def ensure_tls(tls_dir: Path) -> Path:
    """Make the CA and the broker's key and certificate unless they exist; return the CA file."""
    keystore = tls_dir / "keystore.pem"
    if keystore.is_file() and ca_file(tls_dir).is_file():
        return ca_file(tls_dir)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SetupError(f"openssl not found on PATH: the SASL_SSL listener needs a generated CA; {INSTALL_OPENSSL}")
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    _run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", DAYS, "-subj", "/CN=newsalert local Kafka CA",
         "-keyout", "ca.key", "-out", "ca.pem", cwd=tls_dir)
    _run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-keyout", "broker.key", "-out", "broker.csr", cwd=tls_dir)
    (tls_dir / "broker.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run(openssl, "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", DAYS, "-extfile", "broker.ext", "-out", "broker.pem", cwd=tls_dir)
    # Kafka's PEM key store: the PKCS#8 key, then the certificate chain.
    keystore.write_text((tls_dir / "broker.key").read_text() + (tls_dir / "broker.pem").read_text())
    for name in ("ca.key", "broker.key", "keystore.pem"):
        os.chmod(tls_dir / name, 0o600)
    return ca_file(tls_dir)


def _run(*cmd: str, cwd: Path) -> None:
    done = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SetupError(f"{' '.join(cmd[:3])} ... failed (exit {done.returncode}):\n{tail_text(done.stdout + done.stderr, 10)}")

"""The one place where Kafka clients are made, so every client connects the same way.

Producers, consumers, the admin client and faust's broker all take their security options
(``NEWSALERT_KAFKA_SECURITY_PROTOCOL``, SASL user and password, TLS files, hostname checking) from
``connection_options``; a client made anywhere else would silently ignore them on a secured
cluster. Secrets stay in ``SecretStr`` until they are handed to the client and are never logged:
``describe`` says how a client connects without them.

aiokafka reports a refused login or an untrusted certificate only as "Unable to bootstrap", and
its callers would retry that forever. ``diagnose`` opens one connection itself to find the cause
and turns it into a ``SetupError`` naming the setting to fix.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn

from newsalert.config import Settings
from newsalert.errors import SetupError

_SASL_REFUSED = (
    kafka_errors.SaslAuthenticationFailed,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.IllegalSaslStateError,
)
_DIAGNOSE_TIMEOUT_S = 10.0


def uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol.startswith("SASL_")


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the settings (None without TLS); SetupError naming a file that cannot be read."""
    if not uses_tls(settings):
        return None
    cafile = settings.kafka_ssl_cafile
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise SetupError(f"NEWSALERT_KAFKA_SSL_CAFILE={cafile} cannot be used as a CA file: {exc}") from exc
    if settings.kafka_ssl_certfile is not None:
        password = settings.kafka_ssl_key_password
        try:
            context.load_cert_chain(
                str(settings.kafka_ssl_certfile), str(settings.kafka_ssl_keyfile),
                password=password.get_secret_value() if password else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise SetupError(
                f"NEWSALERT_KAFKA_SSL_CERTFILE={settings.kafka_ssl_certfile} / NEWSALERT_KAFKA_SSL_KEYFILE="
                f"{settings.kafka_ssl_keyfile} cannot be loaded (or NEWSALERT_KAFKA_SSL_KEY_PASSWORD is wrong): {exc}"
            ) from exc
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def connection_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments every aiokafka client gets: bootstrap servers and security."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if uses_sasl(settings):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
    return options


def producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    """An aiokafka producer on the configured cluster; ``options`` are the producer's own."""
    return AIOKafkaProducer(**connection_options(settings), **options)


def consumer(settings: Settings, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """An aiokafka consumer on the configured cluster, subscribed to ``topics`` if any."""
    return AIOKafkaConsumer(*topics, **connection_options(settings), **options)


def admin(settings: Settings, **options: Any) -> AIOKafkaAdminClient:
    """An aiokafka admin client on the configured cluster."""
    return AIOKafkaAdminClient(**connection_options(settings), **options)


def faust_credentials(settings: Settings) -> Any:
    """faust's ``broker_credentials`` for the settings (None for PLAINTEXT)."""
    import faust  # only the matcher needs faust; keep it out of every other process

    context = ssl_context(settings)
    if uses_sasl(settings):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,  # None keeps SASL_PLAINTEXT, a context makes it SASL_SSL
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def describe(settings: Settings) -> str:
    """How the clients connect, for logs and messages: never the password."""
    how = settings.kafka_security_protocol
    if uses_sasl(settings):
        how += f" ({settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username!r})"
    return f"{settings.kafka_bootstrap} over {how}"


def bootstrap_hosts(settings: Settings) -> list[tuple[str, int]]:
    """The bootstrap servers as (host, port) pairs; entries without a numeric port are skipped."""
    hosts = []
    for entry in settings.kafka_bootstrap.split(","):
        host, _, port = entry.strip().rpartition(":")
        if host and port.isdigit():
            hosts.append((host.strip("[]"), int(port)))
    return hosts


async def answers(settings: Settings, timeout_s: float) -> bool:
    """True when any bootstrap server answers as a Kafka broker within ``timeout_s``.

    PLAINTEXT uses the raw metadata probe of ``local_kafka`` (synchronous and quiet: aiokafka logs
    every refused connection as an error) in a worker thread; a secured cluster needs the TLS
    handshake and login, so an aiokafka connection is opened and closed instead.
    """
    from newsalert.adapters import local_kafka

    for host, port in bootstrap_hosts(settings):
        if settings.kafka_security_protocol == "PLAINTEXT":
            if await asyncio.to_thread(local_kafka.probe, host, port, timeout_s) is not None:
                return True
            continue
        options = connection_options(settings)
        options.pop("bootstrap_servers")
        try:
            conn = await asyncio.wait_for(create_conn(host, port, request_timeout_ms=int(timeout_s * 1000), **options), timeout_s)
        except Exception:  # noqa: BLE001 - any failure means "not ready"; diagnose() tells why
            continue
        conn.close()
        return True
    return False


async def diagnose(settings: Settings) -> SetupError | None:
    """Why the brokers refuse us, as a SetupError naming the setting to fix; None when the cause
    is not a setting (nothing answers, a timeout): then retrying later makes sense."""
    options = connection_options(settings)
    options.pop("bootstrap_servers")
    for host, port in bootstrap_hosts(settings):
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=int(_DIAGNOSE_TIMEOUT_S * 1000), **options),
                timeout=_DIAGNOSE_TIMEOUT_S,
            )
        except Exception as exc:  # noqa: BLE001 - classified below; anything else is "not a setting"
            problem = _explain(settings, host, port, exc)
            if problem is not None:
                return problem
            continue
        conn.close()
    return None


def _explain(settings: Settings, host: str, port: int, exc: BaseException) -> SetupError | None:
    where = f"the broker {host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        if "hostname" in (exc.verify_message or "").lower() or "ip address mismatch" in str(exc).lower():
            return SetupError(
                f"TLS: the certificate of {where} does not name that host ({exc.verify_message}); connect "
                f"by a name the certificate holds (NEWSALERT_KAFKA_BOOTSTRAP), or as a last resort set "
                f"NEWSALERT_KAFKA_SSL_CHECK_HOSTNAME=false"
            )
        trusted = settings.kafka_ssl_cafile or "the system trust store (NEWSALERT_KAFKA_SSL_CAFILE unset)"
        return SetupError(
            f"TLS: the certificate of {where} is not trusted by {trusted} ({exc.verify_message}); set "
            f"NEWSALERT_KAFKA_SSL_CAFILE to the CA that signed the broker's certificate"
        )
    if isinstance(exc, ssl.SSLError):
        return SetupError(
            f"TLS handshake with {where} failed ({exc.reason or exc}); does the port speak TLS? Check "
            f"NEWSALERT_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} and the client certificate "
            f"(NEWSALERT_KAFKA_SSL_CERTFILE) if the broker requires one"
        )
    if isinstance(exc, _SASL_REFUSED):
        return SetupError(
            f"SASL: {where} refused the login of user {settings.kafka_sasl_username!r} with "
            f"{settings.kafka_sasl_mechanism} ({type(exc).__name__}); check NEWSALERT_KAFKA_SASL_USERNAME, "
            f"NEWSALERT_KAFKA_SASL_PASSWORD and NEWSALERT_KAFKA_SASL_MECHANISM"
        )
    return None

"""The client factory: every client gets the same security options; secrets stay out of text."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from newsalert.adapters import kafka_clients
from newsalert.config import Settings
from newsalert.errors import SetupError

SASL = dict(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="newsroom", kafka_sasl_password="s3cret-pw")


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=unit-ca",
                    "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.pem")], check=True, capture_output=True)
    return folder / "ca.pem"


def test_plaintext_by_default_without_tls_or_sasl() -> None:
    options = kafka_clients.connection_options(Settings(kafka_bootstrap="a:1,b:2"))
    assert options == {"bootstrap_servers": "a:1,b:2", "security_protocol": "PLAINTEXT"}
    assert kafka_clients.faust_credentials(Settings()) is None


def test_sasl_ssl_options_carry_mechanism_user_password_and_a_verifying_context(ca_file: Path) -> None:
    options = kafka_clients.connection_options(Settings(**SASL, kafka_ssl_cafile=ca_file))
    assert options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-512", "newsroom", "s3cret-pw")
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


async def test_every_client_kind_is_built_with_the_options(ca_file: Path) -> None:
    settings = Settings(**SASL, kafka_ssl_cafile=ca_file)
    for client in (kafka_clients.producer(settings), kafka_clients.consumer(settings, "t"), kafka_clients.admin(settings)):
        inner = getattr(client, "_client", None) or client.client
        assert inner._security_protocol == "SASL_SSL" and inner._sasl_mechanism == "SCRAM-SHA-512"
        await (client.close() if hasattr(client, "close") else client.stop())


def test_faust_gets_sasl_over_tls(ca_file: Path) -> None:
    credentials = kafka_clients.faust_credentials(Settings(**SASL, kafka_ssl_cafile=ca_file))
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
    assert "s3cret-pw" not in repr(credentials)
    tls_only = kafka_clients.faust_credentials(Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=ca_file))
    assert tls_only.protocol.value == "SSL"


def test_hostname_checking_can_be_turned_off(ca_file: Path) -> None:
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=ca_file, kafka_ssl_check_hostname=False)
    assert kafka_clients.ssl_context(settings).check_hostname is False


def test_an_unreadable_ca_file_names_the_setting(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(SetupError, match="NEWSALERT_KAFKA_SSL_CAFILE"):
        kafka_clients.ssl_context(Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=bogus))


def test_the_password_never_shows_in_descriptions_or_errors() -> None:
    settings = Settings(**SASL)
    assert "s3cret-pw" not in kafka_clients.describe(settings) and "newsroom" in kafka_clients.describe(settings)
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings.model_dump())
    with pytest.raises(ValidationError) as caught:
        Settings(**{**SASL, "kafka_sasl_username": ""})
    assert "s3cret-pw" not in str(caught.value) and "NEWSALERT_KAFKA_SASL_USERNAME" in str(caught.value)


def test_replication_settings_are_checked_together() -> None:
    with pytest.raises(ValidationError, match="NEWSALERT_MIN_INSYNC_REPLICAS"):
        Settings(replication_factor=2, min_insync_replicas=3)
    assert Settings(replication_factor=3, min_insync_replicas=2).min_insync_replicas == 2


def test_sasl_refusal_and_untrusted_certificate_are_named() -> None:
    settings = Settings(**SASL)
    refused = kafka_clients._explain(settings, "h", 1, kafka_clients.kafka_errors.SaslAuthenticationFailed("bad"))
    assert "NEWSALERT_KAFKA_SASL_PASSWORD" in str(refused) and "s3cret-pw" not in str(refused)
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted.verify_message = "self-signed certificate in certificate chain"
    assert "NEWSALERT_KAFKA_SSL_CAFILE" in str(kafka_clients._explain(settings, "h", 1, untrusted))
    assert kafka_clients._explain(settings, "h", 1, ConnectionRefusedError()) is None


def test_no_client_is_made_outside_the_factory() -> None:
    """A client built elsewhere would ignore the security settings on a secured cluster."""
    repo = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("newsalert", "services"):
        for path in (repo / folder).rglob("*.py"):
            if path.name == "kafka_clients.py":
                continue
            text = path.read_text(encoding="utf-8")
            for call in ("AIOKafkaProducer(", "AIOKafkaConsumer(", "AIOKafkaAdminClient("):
                if call in text:
                    offenders.append(f"{path.relative_to(repo)}: {call}")
            if "faust.App(" in text and "broker_credentials=kafka_clients.faust_credentials" not in text:
                offenders.append(f"{path.relative_to(repo)}: faust.App without the factory's credentials")
    assert not offenders, offenders

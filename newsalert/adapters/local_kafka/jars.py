"""The tools the local broker needs: a Java 17+ runtime, and the Kafka jars resolved by Maven."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

from newsalert.adapters.local_kafka.config import BrokerConfig
from newsalert.adapters.local_kafka.logs import tail_text
from newsalert.errors import SetupError
from newsalert.shipped import kafka_pom

MIN_JAVA = 17
INSTALL_JAVA = "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
INSTALL_MAVEN = "install Apache Maven (Debian: apt-get install maven)"


def find_java() -> str:
    """Path of a ``java`` of version 17 or newer; SetupError saying what to install otherwise."""
    java = shutil.which("java")
    if java is None:
        raise SetupError(f"java not found on PATH: the local Kafka broker needs it; {INSTALL_JAVA}")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match:
        major = int(match.group(1))
        major = int(match.group(2) or 0) if major == 1 else major  # "1.8" is Java 8
        if major < MIN_JAVA:
            raise SetupError(f"{java} is Java {major}; Kafka 4 needs Java {MIN_JAVA} or newer: {INSTALL_JAVA}")
    return java


def ensure_jars(cfg: BrokerConfig) -> float | None:
    """Make sure the Kafka jars of ``cfg.version`` are in the cache; return the seconds spent
    downloading, or None when the cache already had them.

    Maven copies into a temporary folder that is renamed into place only when complete, so an
    interrupted download is never mistaken for a full set of jars.
    """
    marker = cfg.libs / ".complete"
    if marker.is_file():
        return None
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SetupError(f"mvn not found on PATH: the Kafka jars are resolved with Maven; {INSTALL_MAVEN}")
    cfg.libs.parent.mkdir(parents=True, exist_ok=True)
    tmp = cfg.libs.parent / f"libs.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    begun = time.monotonic()
    cmd = [mvn, "-B", "-q", "-f", str(kafka_pom()), "dependency:copy-dependencies",
           f"-Dkafka.version={cfg.version}", f"-DoutputDirectory={tmp}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0 or not any(tmp.glob(f"kafka_2.13-{cfg.version}.jar")):
        shutil.rmtree(tmp, ignore_errors=True)
        output = tail_text(done.stdout + done.stderr, 30)
        raise SetupError(
            f"could not resolve Apache Kafka {cfg.version} with Maven ({' '.join(cmd)}), exit "
            f"{done.returncode}. Is the version published on Maven Central and the network up?\n{output}"
        )
    (tmp / ".complete").write_text(f"{cfg.version}\n")
    shutil.rmtree(cfg.libs, ignore_errors=True)
    tmp.replace(cfg.libs)
    return time.monotonic() - begun

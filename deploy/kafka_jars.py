"""The local Apache Kafka broker's jars: resolved from Maven Central by the project's build.

``deploy/kafka/pom.xml`` names the broker (``org.apache.kafka:kafka_2.13``) and a log4j2
binding; Maven copies them with their runtime dependencies into ``build/kafka/lib``. A stamp
beside them holds a digest of the pom, so a changed pom (a new Kafka version) resolves again
and an unchanged one costs nothing. ``make kafka`` runs :func:`build`; starting the local
broker does too, so a fresh clone needs no extra step.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

from deploy.procs import DeployError

ROOT = Path(__file__).resolve().parent.parent
POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
OUT = ROOT / "build" / "kafka"
INSTALL_HINT = ("apt-get install -y --no-install-recommends openjdk-17-jre-headless maven "
                "(Java 17 and Maven)")


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version the pom names."""
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    if not found:
        raise DeployError(f"{pom} names no <kafka.version>")
    return found.group(1).strip()


def lib_dir(out: Path = OUT) -> Path:
    return out / "lib"


def _digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def current(pom: Path = POM, out: Path = OUT) -> bool:
    """True if ``out`` holds the jars of this pom (stamp matches and the broker jar is there)."""
    stamp = out / "stamp"
    if not stamp.is_file() or stamp.read_text().strip() != _digest(pom):
        return False
    return (lib_dir(out) / f"kafka_2.13-{kafka_version(pom)}.jar").is_file()


def tool(name: str) -> str:
    """Path of ``java`` or ``mvn``; a clear error naming the packages if it is missing."""
    path = shutil.which(name)
    if path is None:
        raise DeployError(f"the local Kafka broker needs `{name}` on PATH: {INSTALL_HINT}")
    return path


def build(pom: Path = POM, out: Path = OUT, force: bool = False) -> bool:
    """Resolve the broker's jars into ``out/lib`` unless current; whether it resolved."""
    if not force and current(pom, out):
        return False
    staging = out / "lib.new"
    shutil.rmtree(staging, ignore_errors=True)
    command = [tool("mvn"), "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
               f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise DeployError(f"Maven could not resolve Kafka {kafka_version(pom)}'s jars "
                          f"({' '.join(command)}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    shutil.rmtree(lib_dir(out), ignore_errors=True)
    staging.rename(lib_dir(out))
    (out / "stamp").write_text(_digest(pom) + "\n")
    return True


def classpath(out: Path = OUT) -> str:
    """The broker's Java class path (all jars in ``out/lib``), building them if needed."""
    build(out=out)
    return str(lib_dir(out) / "*")


def main() -> int:
    try:
        built = build(force="--force" in sys.argv[1:])
    except DeployError as exc:
        print(f"citycc: {exc}", file=sys.stderr)
        return 1
    state = "resolved" if built else "current"
    print(f"Apache Kafka {kafka_version()} jars {state} in {lib_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

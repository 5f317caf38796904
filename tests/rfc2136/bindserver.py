"""Start a real BIND 9 `named` on 127.0.0.1 for tests and the benchmark, and stop it after.

The server is unprivileged in the sense that matters: a free high port on loopback, every file
(config, zones, journal, pid, TSIG key) inside the given folder, no rndc control channel, no system
config. It runs as the invoking user (root in most CI containers; named does not need it).
`.ci/bind.sh` installs named from Debian's packages.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring

SKIP_REASON = ("BIND 9 `named` is not installed; run .ci/bind.sh (apt-get install bind9 bind9-utils) "
               "to run the RFC 2136 tests against a real server")


def named_binary() -> str | None:
    found = shutil.which("named")
    if found:
        return found
    for candidate in ("/usr/sbin/named", "/usr/local/sbin/named"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP at the time of the call."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


@dataclass
class Zone:
    name: str
    records: list[str] = field(default_factory=list)  # master-file lines, names relative to the zone
    allow_update: bool = True
    allow_transfer: bool = True


@dataclass
class BindServer:
    """One named process. `start()` writes the files and waits until the server answers."""

    workdir: Path
    zones: list[Zone]
    key_name: str = "reconciler-key."
    algorithm: str = "hmac-sha256"
    secret: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    port: int = 0
    extra_options: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def secret_file(self) -> Path:
        return self.workdir / "tsig.secret"

    @property
    def log_file(self) -> Path:
        """named -g sends every log message to stderr, which start() writes here."""
        return self.workdir / "named.stderr"

    def log(self) -> str:
        if getattr(self, "_stderr", None) is not None:
            self._stderr.flush()
        return self.log_file.read_text("utf-8", "replace") if self.log_file.exists() else ""

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        return dns.tsigkeyring.from_text({self.key_name: (self.algorithm, self.secret)})

    def target(self, name: str = "bind-lab", *, zones: list[str] | None = None, **extra: object) -> dict:
        """The target entry for reconciler.yaml (secret by file: reference, mode 0600)."""
        return {"kind": "rfc2136", "server": "127.0.0.1", "port": self.port,
                "zones": zones if zones is not None else [z.name for z in self.zones],
                "tsig": {"name": self.key_name, "algorithm": self.algorithm,
                         "secret": f"file:{self.secret_file}"}, "timeout": 10, **extra}

    def zone_file(self, zone: str) -> Path:
        return self.workdir / f"{zone}.db"

    def _write(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.secret_file.write_text(self.secret + "\n", "utf-8")
        self.secret_file.chmod(0o600)
        key = self.key_name.rstrip(".")
        parts = [f'''key "{key}" {{ algorithm {self.algorithm}; secret "{self.secret}"; }};
controls {{ }};
options {{
    directory "{self.workdir}";
    pid-file "{self.workdir}/named.pid";
    session-keyfile "{self.workdir}/session.key";
    managed-keys-directory "{self.workdir}";
    dump-file "{self.workdir}/named.dump";
    statistics-file "{self.workdir}/named.stats";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    notify no;
    dnssec-validation no;
    allow-query {{ 127.0.0.1; }};
    {self.extra_options}
}};
''']
        for zone in self.zones:
            body = [f"$ORIGIN {zone.name}.", "$TTL 3600",
                    f"@ IN SOA ns1.{zone.name}. hostmaster.{zone.name}. 1 3600 600 86400 300",
                    f"@ IN NS ns1.{zone.name}.", "ns1 IN A 127.0.0.1", *zone.records]
            self.zone_file(zone.name).write_text("\n".join(body) + "\n", "utf-8")
            update = f"allow-update {{ key {key}; }};" if zone.allow_update else "allow-update { none; };"
            transfer = f"allow-transfer {{ key {key}; }};" if zone.allow_transfer else "allow-transfer { none; };"
            parts.append(f'zone "{zone.name}" {{ type primary; file "{self.zone_file(zone.name)}"; '
                         f"{update} {transfer} }};\n")
        conf = self.workdir / "named.conf"
        conf.write_text("".join(parts), "utf-8")
        return conf

    def start(self, timeout: float = 15.0) -> BindServer:
        binary = named_binary()
        if binary is None:
            raise RuntimeError(SKIP_REASON)
        last_error = ""
        for _attempt in range(3):
            self.port = free_port()
            conf = self._write()
            stderr = open(self.workdir / "named.stderr", "wb")  # closed in stop()
            self.process = subprocess.Popen([binary, "-g", "-4", "-n", "2", "-c", str(conf)],
                                            stdout=stderr, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=self.workdir)
            self._stderr = stderr
            try:
                self._wait(timeout)
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
        raise RuntimeError(last_error)

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        query = dns.message.make_query(self.zones[0].name + ".", "SOA")
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                self._stderr.flush()
                text = (self.workdir / "named.stderr").read_text("utf-8", "replace")[-2000:]
                raise RuntimeError(f"named exited with {self.process.returncode}:\n{text}")
            try:
                answer = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.3)
                if answer.rcode() == dns.rcode.NOERROR and answer.answer:
                    dns.query.tcp(query, "127.0.0.1", port=self.port, timeout=1.0)
                    return
            except (OSError, dns.exception.DNSException):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"named did not answer on 127.0.0.1:{self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        stderr = getattr(self, "_stderr", None)
        if stderr is not None:
            stderr.close()
            self._stderr = None

    def __enter__(self) -> BindServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

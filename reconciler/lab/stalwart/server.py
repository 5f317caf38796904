"""The Stalwart lab server: one loopback HTTP listener speaking v0.15 or v0.16, switchable at run time."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..common import LabControl, LabHandler, LabHTTPServer
from . import jmap_v016, rest_v015
from .auth import AuthGate, BanPolicy
from .ldap import LdapDirectory
from .migrate import migrate
from .principals_v015 import Options
from .problems import PROBLEM, blocked_ip
from .registry_v016 import Registry, RegistryOptions
from .store import Directory

VERSIONS = ("0.15", "0.16")


@dataclass
class StalwartLabConfig:
    """Server settings the emulated behaviour depends on. Secrets are hashes or test-only values."""

    version: str = "0.15"
    ldap_default_directory: bool = True  # the organisation's storage.directory = "ldap"
    fallback_admin_user: str = "admin"
    fallback_admin_secret: str | None = None  # authentication.fallback-admin.secret (plaintext or hash)
    api_keys: dict[str, str] = field(default_factory=dict)  # v0.16: key name -> secret hash
    hostname: str = "mail.namgun.or.kr"
    ban: BanPolicy = field(default_factory=BanPolicy)
    readd_in_same_patch_fails: bool = True  # stalwart-api.md §13 (unverified): switch


class StalwartState:
    """Everything the handlers share: both stores, LDAP, authentication, config."""

    def __init__(self, config: StalwartLabConfig) -> None:
        if config.version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}")
        self.config = config
        self.directory = Directory()
        self.registry = Registry(RegistryOptions(external_directory=config.ldap_default_directory,
                                                 hostname=config.hostname))
        self.ldap = LdapDirectory()
        self.auth = AuthGate(config.ban)
        self.base_url = ""
        self.reloaded_at: float | None = None
        self.version_lock = threading.Lock()

    @property
    def version(self) -> str:
        return self.config.version

    def principal_options(self) -> Options:
        return Options(ldap_default_directory=self.config.ldap_default_directory,
                       readd_in_same_patch_fails=self.config.readd_in_same_patch_fails)

    def switch_version(self, version: str) -> None:
        """Model `docker pull stalwart:latest` + restart (+ migrate_v016.py when going 0.15 -> 0.16)."""
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}")
        with self.version_lock:
            if version == self.config.version:
                return
            if version == "0.16":
                self.registry = Registry(RegistryOptions(external_directory=self.config.ldap_default_directory,
                                                         hostname=self.config.hostname))
                migrate(self.directory, self.registry)
            self.config.version = version


class StalwartHandler(LabHandler):
    server: LabHTTPServer

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def handle_request(self, method: str) -> None:
        state: StalwartState = self.server.state
        served = getattr(self, "_served", 0)
        self._served = served + 1
        client_ip = self.client_address[0]
        body = self.read_body()
        if state.auth.is_blocked(client_ip):
            if served == 0:
                # A banned IP's new connection is dropped at accept (listen.rs `is_ip_blocked`).
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            problem = blocked_ip()
            self._send(problem.status, problem.body(), [("Content-Type", PROBLEM)])
            return
        parts = urlsplit(self.path)
        module = rest_v015 if state.version == "0.15" else jmap_v016
        status, payload, headers = module.handle(state, method, parts.path, parts.query, self.headers, body,
                                                 client_ip)
        self._send(status, payload, headers)

    def _send(self, status: int, payload: bytes, headers: list[tuple[str, str]]) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test): nothing to answer


class StalwartLab:
    """A running Stalwart emulator. Use as a context manager or call start()/stop()."""

    def __init__(self, config: StalwartLabConfig | None = None, latency: float = 0.0, port: int = 0) -> None:
        self.config = config or StalwartLabConfig()
        self.state = StalwartState(self.config)
        self.control = LabControl(latency=latency)
        self._server = LabHTTPServer(StalwartHandler, self.control, self.state, port=port)
        self.state.base_url = self._server.url

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> StalwartLab:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def switch_version(self, version: str) -> None:
        self.state.switch_version(version)

    def __enter__(self) -> StalwartLab:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

"""``start_lab``: the Windows DNS lab (WinRM endpoint + PowerShell host + port-53 server) as a LabService.

One model (dnsserver.py) sits behind both listeners, so what a WinRM command writes is what a DNS
query reads. The target entry points reconciler at the loopback endpoint with a lab-only local
account (Basic over plain HTTP: a real server refuses that by default, winrm-protocol.md §3/§7, so the
target says ``allow_unencrypted: true`` explicitly).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.lab.common import LabControl
from reconciler.lab.service import write_secret
from reconciler.lab.windows_dns import seed as seeding
from reconciler.lab.windows_dns.dns53 import Dns53Server
from reconciler.lab.windows_dns.dnsserver import Behaviour, WindowsDnsModel
from reconciler.lab.windows_dns.pshost import PsHost
from reconciler.lab.windows_dns.wsman import WinRMConfig, WinRMServer

LAB_USER = "svc-reconciler"
ZONE = "namgun.or.kr"


@dataclass
class WindowsDnsLab:
    """The running parts, for tests and benchmarks."""

    model: WindowsDnsModel
    host: PsHost
    winrm: WinRMServer
    dns: Dns53Server
    username: str
    password: str

    @property
    def endpoint(self) -> str:
        return self.winrm.endpoint

    def stop(self) -> None:
        self.winrm.stop()
        self.dns.stop()


class WindowsDnsService:
    """LabService for `reconciler lab`, the demo and tests."""

    name = "dc1"

    def __init__(self, lab: WindowsDnsLab, target: dict[str, Any]) -> None:
        self.lab = lab
        self.target = target
        self.env: dict[str, str] = {}
        self.control: LabControl = lab.winrm.control

    def describe(self) -> str:
        zones = sum(1 for _ in self.lab.model.iter_zones())
        return (f"Windows DNS emulator: WinRM at {self.lab.endpoint}, DNS at 127.0.0.1:{self.lab.dns.port} "
                f"(server {self.lab.model.local}, {zones} zones)")

    def stop(self) -> None:
        self.lab.stop()


def start_windows_dns(model: WindowsDnsModel, *, password: str, username: str = LAB_USER,
                      latency: float = 0.0, config: WinRMConfig | None = None) -> WindowsDnsLab:
    """Start both listeners on 127.0.0.1 around an existing model."""
    host = PsHost(model)
    winrm = WinRMServer(host, {username: password}, config, control=LabControl(latency=latency))
    dns = Dns53Server(model).start()
    try:
        winrm.start()
    except BaseException:
        dns.stop()
        raise
    return WindowsDnsLab(model, host, winrm, dns, username, password)


def start_lab(workdir: Path, *, latency: float = 0.0, seed: bool = True, desired: Path | None = None,
              behaviour: Behaviour | None = None) -> WindowsDnsService:
    """The organisation's Windows DNS as it is today (seeded), or an empty server with the zone."""
    desired_file = (desired / "dns" / f"{ZONE}.yaml") if desired is not None else seeding.NAMGUN_DESIRED
    if seed:
        model = seeding.load_namgun(desired_file=desired_file, behaviour=behaviour)
    else:
        model = WindowsDnsModel(behaviour=behaviour)
        from reconciler.lab.windows_dns.dnsserver import Record, Zone

        zone = model.server().add_zone(Zone(ZONE))
        zone.records.append(Record("@", "SOA", 3600, {
            "PrimaryServer": "dc01.namgun.or.kr.", "ResponsiblePerson": "hostmaster.namgun.or.kr.",
            "SerialNumber": 1, "RefreshInterval": 900, "RetryDelay": 600, "ExpireLimit": 86400,
            "MinimumTimeToLive": 3600}))
        zone.records.append(Record("@", "NS", 3600, {"NameServer": "dc01.namgun.or.kr."}))
    ref, password = write_secret(workdir, "winrm-password")
    lab = start_windows_dns(model, password=password, latency=latency)
    target = {"kind": "windows_dns", "address": lab.endpoint, "transport": "basic", "username": lab.username,
              "password": ref, "allow_unencrypted": True, "zones": [ZONE],
              "dns_server": f"127.0.0.1:{lab.dns.port}"}
    return WindowsDnsService(lab, target)

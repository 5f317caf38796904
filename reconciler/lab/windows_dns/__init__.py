"""Lab emulation of Windows Server DNS reached over WinRM (WS-Management / WinRS).

- ``wsman``: the loopback WinRM endpoint pywinrm talks to (``WinRMServer``).
- ``host``: the interface a PowerShell emulation implements to run commands behind it.
- ``clixml`` / ``psjson``: what PowerShell 5.1 writes on stderr and what ``ConvertTo-Json`` prints.

The DNS server model and the PowerShell host that runs DNS cmdlets live in sibling modules.
"""

from reconciler.lab.windows_dns.host import CommandResult, EchoHost, PowerShellHost, ShellInfo
from reconciler.lab.windows_dns.service import start_lab
from reconciler.lab.windows_dns.wsman import WinRMConfig, WinRMServer, WinRMStats

__all__ = [
    "CommandResult",
    "EchoHost",
    "PowerShellHost",
    "ShellInfo",
    "WinRMConfig",
    "WinRMServer",
    "WinRMStats",
    "start_lab",
]

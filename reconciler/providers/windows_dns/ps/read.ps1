# reconciler-program: windows-dns-read/1
# Reads one zone in one call and prints it as one line of ASCII-only JSON built field by field
# (windows-dns.md 2.4/2.5: never ConvertTo-Json of raw CIM objects; winrm-protocol.md 5: ASCII
# survives any console code page). The payload is JSON data passed as a string, never code.
param([string]$PayloadJson)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

function J($v) {
    if ($null -eq $v) { return 'null' }
    '"' + [regex]::Replace([string]$v, '[^\x20\x21\x23-\x5B\x5D-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) + '"'
}
function B($v) { if ($v) { 'true' } else { 'false' } }
function Fail($e) {
    [Console]::Out.Write('#RESULT {"ok":false,"error":{"id":' + (J $e.FullyQualifiedErrorId) + ',"category":' + (J ([string]$e.CategoryInfo.Category)) + ',"message":' + (J $e.Exception.Message) + '}}' + "`r`n")
}

$p = ConvertFrom-Json $PayloadJson
$c = @{}
if ($p.computer) { $c['ComputerName'] = [string]$p.computer }
try {
    $z = Get-DnsServerZone -Name ([string]$p.zone) @c
    $recs = @(Get-DnsServerResourceRecord -ZoneName ([string]$p.zone) @c)
} catch {
    Fail $_
    exit 1
}
$sb = New-Object System.Text.StringBuilder
[void]$sb.Append('#RESULT {"ok":true,"zone":{"name":' + (J $z.ZoneName) + ',"type":' + (J ([string]$z.ZoneType)) + ',"auto":' + (B $z.IsAutoCreated) + ',"ds":' + (B $z.IsDsIntegrated) + ',"dynamic_update":' + (J ([string]$z.DynamicUpdate)) + '},"records":[')
$first = $true
foreach ($r in $recs) {
    $d = $r.RecordData
    switch ([string]$r.RecordType) {
        'A' { $v = @([string]$d.IPv4Address) }
        'AAAA' { $v = @([string]$d.IPv6Address) }
        'CNAME' { $v = @([string]$d.HostNameAlias) }
        'NS' { $v = @([string]$d.NameServer) }
        'PTR' { $v = @([string]$d.PtrDomainName) }
        'DNAME' { $v = @([string]$d.DomainNameAlias) }
        'MX' { $v = @([string]$d.Preference, [string]$d.MailExchange) }
        'SRV' { $v = @([string]$d.Priority, [string]$d.Weight, [string]$d.Port, [string]$d.DomainName) }
        'TXT' { $v = @([string]$d.DescriptiveText) }
        'SOA' { $v = @([string]$d.PrimaryServer, [string]$d.ResponsiblePerson, [string]$d.SerialNumber) }
        default {
            $raw = $d.CimInstanceProperties['Data']
            if ($raw) { $v = @([string]$raw.Value) } else { $v = @() }
        }
    }
    if (-not $first) { [void]$sb.Append(',') }
    $first = $false
    if ($null -eq $r.Timestamp) { $ts = 'null' } else { $ts = J $r.Timestamp.ToString('s') }
    [void]$sb.Append('{"n":' + (J $r.HostName) + ',"t":' + (J ([string]$r.RecordType)) + ',"c":' + [int]$r.Type + ',"ttl":' + [int64]$r.TimeToLive.TotalSeconds + ',"ts":' + $ts + ',"d":[' + ((@($v | ForEach-Object { J $_ })) -join ',') + ']}')
}
[void]$sb.Append(']}')
[Console]::Out.Write($sb.ToString() + "`r`n")

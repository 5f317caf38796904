# reconciler-program: windows-dns-apply/1
# Applies a batch of changes in one call. Each change is a list of record operations; an operation
# that fails is caught here and reported as data (FullyQualifiedErrorId, category, message;
# windows-dns.md 5) and the change stops there, the next change goes on. Values arrive as JSON data
# in a string and reach the cmdlets only as parameter values (splatting), never as code.
# Long TXT (several strings) cannot go through Add-DnsServerResourceRecord (windows-dns.md 3);
# it goes through dnscmd or the WMI provider, each checked over DNS afterwards (3.1), in the order
# the payload gives, and fails with a message naming every path tried.
param([string]$PayloadJson)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

function J($v) {
    if ($null -eq $v) { return 'null' }
    '"' + [regex]::Replace([string]$v, '[^\x20\x21\x23-\x5B\x5D-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) + '"'
}
function Err($e) {
    '{"id":' + (J $e.FullyQualifiedErrorId) + ',"category":' + (J ([string]$e.CategoryInfo.Category)) + ',"message":' + (J $e.Exception.Message) + '}'
}

$p = ConvertFrom-Json $PayloadJson
$c = @{}
$server = '.'
if ($p.computer) { $c['ComputerName'] = [string]$p.computer; $server = [string]$p.computer }
$resolver = [string]$p.resolver

function Ip($x) {
    $s = [string]$x
    if ($s -match '^[0-9A-Fa-f]{8}$') { $s = '{0}.{1}.{2}.{3}' -f [Convert]::ToByte($s.Substring(0, 2), 16), [Convert]::ToByte($s.Substring(2, 2), 16), [Convert]::ToByte($s.Substring(4, 2), 16), [Convert]::ToByte($s.Substring(6, 2), 16) }
    [System.Net.IPAddress]::Parse($s)
}
function Nm($x) { ([string]$x).TrimEnd('.').ToLowerInvariant() }
function Same($r, $op) {
    $d = $r.RecordData
    $v = @($op.v)
    switch ([string]$op.type) {
        'A' { return (Ip $d.IPv4Address).Equals((Ip $v[0])) }
        'AAAA' { return (Ip $d.IPv6Address).Equals((Ip $v[0])) }
        'CNAME' { return (Nm $d.HostNameAlias) -eq (Nm $v[0]) }
        'NS' { return (Nm $d.NameServer) -eq (Nm $v[0]) }
        'PTR' { return (Nm $d.PtrDomainName) -eq (Nm $v[0]) }
        'MX' { return ([int]$d.Preference -eq [int]$v[0]) -and ((Nm $d.MailExchange) -eq (Nm $v[1])) }
        'SRV' { return ([int]$d.Priority -eq [int]$v[0]) -and ([int]$d.Weight -eq [int]$v[1]) -and ([int]$d.Port -eq [int]$v[2]) -and ((Nm $d.DomainName) -eq (Nm $v[3])) }
        'TXT' { return ([string]$d.DescriptiveText) -ceq [string]$v[0] }
        'CAA' { return ([string]$d.CimInstanceProperties['Data'].Value) -eq [string]$v[0] }
    }
    $false
}
function Live($z, $op) {
    try {
        if ([string]$op.type -eq 'CAA') { @(Get-DnsServerResourceRecord -ZoneName $z -Name ([string]$op.name) -Type 257 -Node @c -ErrorAction Stop) }
        else { @(Get-DnsServerResourceRecord -ZoneName $z -Name ([string]$op.name) -RRType ([string]$op.rrtype) -Node @c -ErrorAction Stop) }
    } catch {
        if ($_.FullyQualifiedErrorId -like 'WIN32 9714,*') { @() } else { throw }
    }
}
function AddRec($z, $op) {
    $a = @{ ZoneName = $z; Name = [string]$op.name; TimeToLive = [TimeSpan]::FromSeconds([double]$op.ttl) }
    $v = @($op.v)
    switch ([string]$op.type) {
        'A' { $a['A'] = $true; $a['IPv4Address'] = [string]$v[0] }
        'AAAA' { $a['AAAA'] = $true; $a['IPv6Address'] = [string]$v[0] }
        'CNAME' { $a['CName'] = $true; $a['HostNameAlias'] = [string]$v[0] }
        'NS' { $a['NS'] = $true; $a['NameServer'] = [string]$v[0] }
        'PTR' { $a['Ptr'] = $true; $a['PtrDomainName'] = [string]$v[0] }
        'MX' { $a['MX'] = $true; $a['Preference'] = [uint16]$v[0]; $a['MailExchange'] = [string]$v[1] }
        'SRV' { $a['Srv'] = $true; $a['Priority'] = [uint16]$v[0]; $a['Weight'] = [uint16]$v[1]; $a['Port'] = [uint16]$v[2]; $a['DomainName'] = [string]$v[3] }
        'TXT' { $a['Txt'] = $true; $a['DescriptiveText'] = [string]$v[0] }
        'CAA' { $a['Type'] = [uint16]257; $a['RecordData'] = [string]$v[0] }
    }
    Add-DnsServerResourceRecord @a @c -ErrorAction Stop
}
function RemoveRec($z, $op) {
    $hits = @(Live $z $op | Where-Object { Same $_ $op })
    if ($hits.Count -eq 0) { return 'already absent' }
    $hits[0] | Remove-DnsServerResourceRecord -ZoneName $z -Force @c -ErrorAction Stop
    $null
}
function SetTtl($z, $op) {
    $hits = @(Live $z $op | Where-Object { Same $_ $op })
    if ($hits.Count -eq 0) { throw 'reconciler: the record whose TTL was to change is no longer there' }
    foreach ($old in $hits) {
        $new = $old.Clone()
        $new.TimeToLive = [TimeSpan]::FromSeconds([double]$op.ttl)
        Set-DnsServerResourceRecord -ZoneName $z -OldInputObject $old -NewInputObject $new @c -ErrorAction Stop
    }
    $null
}
function Dns($op) {
    try {
        @(Resolve-DnsName -Name ([string]$op.fqdn) -Type TXT -Server $resolver -DnsOnly -NoHostsFile -ErrorAction Stop | Where-Object { $_.Section -eq 'Answer' -and $_.Type -eq 'TXT' } | ForEach-Object { $_.Strings -join '' })
    } catch {
        if ($_.FullyQualifiedErrorId -like 'DNS_ERROR_RCODE_NAME_ERROR,*') { @() } else { throw }
    }
}
function Published($op) { @(Dns $op) -ccontains [string]$op.value }
function Dnscmd([string[]]$argv) {
    $out = & dnscmd.exe @argv 2>&1
    if ($LASTEXITCODE -ne 0) { throw ('dnscmd exit ' + $LASTEXITCODE + ': ' + (($out | Out-String).Trim())) }
}
function Undo($z, $op, $m) {
    if (-not $op.undo) { return }
    $s0 = [string]@($op.strings)[0]
    try {
        if ($m -eq 'dnscmd') { Dnscmd @($server, '/RecordDelete', $z, [string]$op.node, 'TXT', $s0, '/f') }
        else { Remove-DnsServerResourceRecord -ZoneName $z -Name ([string]$op.name) -RRType Txt -RecordData $s0 -Force @c -ErrorAction Stop }
    } catch { }
}
function AddLong($z, $op) {
    $tried = @()
    foreach ($m in @($op.methods)) {
        try {
            if ($m -eq 'dnscmd') { Dnscmd (@($server, '/RecordAdd', $z, [string]$op.node, [string]$op.ttl, 'TXT') + @($op.strings)) }
            elseif ($m -eq 'wmi') { $null = Invoke-CimMethod -Namespace 'root/MicrosoftDNS' -ClassName 'MicrosoftDNS_ResourceRecord' -MethodName 'CreateInstanceFromTextRepresentation' -Arguments @{ DnsServerName = $server; ContainerName = $z; TextRepresentation = [string]$op.wmi } -ErrorAction Stop }
            else { continue }
        } catch {
            $tried += ($m + ': ' + $_.Exception.Message)
            continue
        }
        if (Published $op) { return ('published with ' + $m) }
        $tried += ($m + ': reported success but DNS does not answer the whole value')
        Undo $z $op $m
    }
    throw ('reconciler: long TXT not published exactly; tried ' + ($tried -join '; '))
}
function RemoveLong($z, $op) {
    if (-not (Published $op)) { return 'already absent' }
    $tried = @()
    foreach ($m in @($op.methods)) {
        try {
            if ($m -eq 'cmdlet') {
                $hits = @(Live $z $op | Where-Object { ([string]$_.RecordData.DescriptiveText) -ceq [string]$op.crlf })
                foreach ($h in $hits) { $h | Remove-DnsServerResourceRecord -ZoneName $z -Force @c -ErrorAction Stop }
            } elseif ($m -eq 'dnscmd') { Dnscmd (@($server, '/RecordDelete', $z, [string]$op.node, 'TXT') + @($op.strings) + @('/f')) }
            elseif ($m -eq 'wmi') {
                $hits = @(Get-CimInstance -Namespace 'root/MicrosoftDNS' -ClassName 'MicrosoftDNS_TXTType' -ErrorAction Stop | Where-Object { $_.ContainerName -eq $z -and $_.OwnerName -eq [string]$op.owner -and $_.RecordData -ceq [string]$op.wmidata })
                foreach ($h in $hits) { Remove-CimInstance -InputObject $h -ErrorAction Stop }
            } else { continue }
        } catch {
            $tried += ($m + ': ' + $_.Exception.Message)
            continue
        }
        if (-not (Published $op)) { return ('removed with ' + $m) }
        $tried += ($m + ': the value is still published')
    }
    throw ('reconciler: long TXT not removed; tried ' + ($tried -join '; '))
}

$sb = New-Object System.Text.StringBuilder
[void]$sb.Append('#RESULT {"ok":true,"results":[')
$firstChange = $true
foreach ($ch in @($p.changes)) {
    $z = [string]$ch.zone
    $done = 0
    $notes = @()
    $err = 'null'
    foreach ($op in @($ch.ops)) {
        try {
            $note = $null
            switch ([string]$op.op) {
                'add' {
                    try { AddRec $z $op }
                    catch { if ($_.FullyQualifiedErrorId -like 'WIN32 9711,*') { $note = 'already present' } else { throw } }
                }
                'remove' { $note = RemoveRec $z $op }
                'ttl' { $note = SetTtl $z $op }
                'add_long' { $note = AddLong $z $op }
                'remove_long' { $note = RemoveLong $z $op }
            }
            if ($note) { $notes += ([string]$op.op + ' ' + [string]$op.name + ' ' + [string]$op.type + ': ' + $note) }
            $done++
        } catch {
            $err = Err $_
            break
        }
    }
    if (-not $firstChange) { [void]$sb.Append(',') }
    $firstChange = $false
    [void]$sb.Append('{"id":' + (J $ch.id) + ',"ok":' + $(if ($err -eq 'null') { 'true' } else { 'false' }) + ',"done":' + $done + ',"notes":[' + ((@($notes | ForEach-Object { J $_ })) -join ',') + '],"error":' + $err + '}')
}
[void]$sb.Append(']}')
[Console]::Out.Write($sb.ToString() + "`r`n")

# reconciler-program: windows-dns-bootstrap/1
# Sent with -EncodedCommand (short, far below the 8191-character cmd.exe limit, winrm-protocol.md 2).
# stdin carries: the program text, one NUL character, then the payload as base64 of UTF-8 JSON.
# Nothing from the payload is ever turned into code: the program gets it as one string argument.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$utf8 = New-Object System.Text.UTF8Encoding $false
[Console]::OutputEncoding = $utf8
$stdin = [Console]::In.ReadToEnd()
$cut = $stdin.IndexOf([char]0)
if ($cut -lt 0) {
    [Console]::Out.Write("#RESULT {`"ok`":false,`"error`":{`"id`":`"BootstrapNoProgram`",`"category`":`"InvalidData`",`"message`":`"no program on stdin`"}}`r`n")
    exit 2
}
$program = $stdin.Substring(0, $cut)
$payload = $utf8.GetString([Convert]::FromBase64String($stdin.Substring($cut + 1).Trim()))
& ([ScriptBlock]::Create($program)) $payload

"""Snapshot files for the Windows DNS lab: load a model from YAML/JSON, dump a model back.

Format (YAML or JSON, same structure; ``dump_model`` writes it, ``load`` reads it)::

    local: DC01                      # computer name of the WinRM host (cmdlets without -ComputerName)
    behaviour: {txt_readback: crlf}  # optional overrides of dnsserver.Behaviour
    servers:
      - name: DC01
        zones:
          - name: namgun.or.kr       # plus any Zone field: zone_type, is_ds_integrated, dynamic_update …
            records:
              - {name: "@", type: MX, ttl: 3600, data: {MailExchange: mail.namgun.or.kr., Preference: 10}}
              - {name: _dmarc, type: TXT, ttl: 3600, strings: ["v=DMARC1; …"]}
              - {name: PC1, type: A, ttl: 1200, data: {IPv4Address: 10.0.0.5},
                 timestamp: "2026-01-05T08:00:00Z"}          # dynamic record (Timestamp not null)
              - {name: x, type: TYPE257, type_code: 257, ttl: 3600, data: {Data: "0005697373756572"}}

A TXT record may carry ``derive: {desired_name: <owner>, cut: <n>}``: the loader then stores the
first ``n`` characters of that owner's TXT value from the desired-state file (or of the value passed
in), reproducing a value that was cut when it was published. Without either, ``strings`` is kept.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from reconciler.lab.windows_dns.dnsserver import Behaviour, Record, WindowsDnsModel, Zone

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"
NAMGUN_SNAPSHOT = SNAPSHOT_DIR / "namgun.yaml"
# desired/dns/<zone>.yaml of a source checkout (the core's layout: records: {name: record | [records]})
REPO_ROOT = Path(__file__).resolve().parents[3]
NAMGUN_DESIRED = REPO_ROOT / "desired" / "dns" / "namgun.or.kr.yaml"

_ZONE_FIELDS = {f.name for f in fields(Zone)} - {"records", "name"}


class SnapshotError(ValueError):
    """A snapshot file that cannot be loaded; the message names the place."""


def read_document(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise SnapshotError(f"{path}: a snapshot is a mapping with 'servers'")
    return doc


def load(source: Path | dict[str, Any], *, behaviour: Behaviour | None = None,
         derived_values: dict[str, str] | None = None, desired_file: Path | None = None) -> WindowsDnsModel:
    """Build a model from a snapshot file or document.

    ``derived_values`` maps a TXT owner name to the full value a ``derive`` entry cuts; values not
    given there are looked up in ``desired_file``.
    """
    doc = read_document(source) if isinstance(source, Path) else source
    where = str(source) if isinstance(source, Path) else "<snapshot>"
    overrides = doc.get("behaviour") or {}
    base = behaviour or Behaviour()
    try:
        beh = base.replace(**overrides) if overrides and behaviour is None else base
    except TypeError as exc:
        raise SnapshotError(f"{where}: unknown behaviour switch: {exc}") from None
    model = WindowsDnsModel(local=str(doc.get("local") or "DC01"), behaviour=beh)
    desired = _desired_txt(desired_file) if desired_file else {}
    values = {**desired, **(derived_values or {})}
    for sdoc in doc.get("servers") or []:
        server = model.add_server(str(sdoc["name"]))
        for zdoc in sdoc.get("zones") or []:
            extra = {k: v for k, v in zdoc.items() if k in _ZONE_FIELDS}
            unknown = set(zdoc) - _ZONE_FIELDS - {"name", "records"}
            if unknown:
                raise SnapshotError(f"{where}: zone {zdoc.get('name')}: unknown field(s) {sorted(unknown)}")
            zone = server.add_zone(Zone(name=str(zdoc["name"]), **extra))
            for i, rdoc in enumerate(zdoc.get("records") or []):
                try:
                    zone.records.append(_record(rdoc, values))
                except (KeyError, TypeError, ValueError) as exc:
                    raise SnapshotError(f"{where}: zone {zone.name} record #{i + 1}: {exc}") from None
    with model.lock:
        for server, zone in model.iter_zones():
            for rec in zone.records:
                model._log("seed", "add", server, zone, rec)
    return model


def _record(rdoc: dict[str, Any], values: dict[str, str]) -> Record:
    rrtype = str(rdoc["type"]).upper()
    stamp = rdoc.get("timestamp")
    timestamp = None
    if stamp is not None:
        timestamp = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
    if rrtype == "TXT":
        strings = [str(s) for s in rdoc.get("strings") or []]
        derive = rdoc.get("derive")
        if derive:
            full = values.get(str(derive.get("desired_name", rdoc["name"])).lower())
            if full is not None:
                strings = [full[: int(derive.get("cut", 255))]]
        if not strings:
            raise ValueError("TXT record without strings")
        data: dict[str, Any] = {"strings": strings}
    else:
        data = dict(rdoc.get("data") or {})
    return Record(name=str(rdoc["name"]), rrtype=rrtype, ttl=int(rdoc.get("ttl", 3600)), data=data,
                  timestamp=timestamp, type_code=int(rdoc.get("type_code", 0)))


def _desired_txt(path: Path) -> dict[str, str]:
    """TXT values (literal strings only) of a desired zone file, by lower-cased owner name."""
    if not path.exists():
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    records = doc.get("records", doc) if isinstance(doc, dict) else {}
    out: dict[str, str] = {}
    for owner, spec in (records or {}).items():
        for rec in spec if isinstance(spec, list) else [spec]:
            if not isinstance(rec, dict) or str(rec.get("type", "")).upper() != "TXT":
                continue
            value = rec.get("value")
            if value is None and isinstance(rec.get("values"), list) and rec["values"]:
                value = rec["values"][0]
            if isinstance(value, str):
                out[str(owner).lower()] = value
    return out


def load_namgun(*, desired_file: Path | None = NAMGUN_DESIRED, dkim_value: str | None = None,
                behaviour: Behaviour | None = None) -> WindowsDnsModel:
    """The organisation's live Windows DNS as it is today, faults included (issue 2).

    The DKIM TXT is the desired key cut at 255 characters: from ``dkim_value`` if given, else from
    the desired file, else the snapshot's own fallback cut.
    """
    derived = {"default._domainkey": dkim_value} if dkim_value else None
    return load(NAMGUN_SNAPSHOT, behaviour=behaviour, derived_values=derived, desired_file=desired_file)


def dump_model(model: WindowsDnsModel) -> dict[str, Any]:
    """The model as a snapshot document (the caller holds the model lock)."""
    defaults = Behaviour()
    changed = {f.name: getattr(model.behaviour, f.name) for f in fields(Behaviour)
               if getattr(model.behaviour, f.name) != getattr(defaults, f.name)}
    servers = []
    for server in model.servers.values():
        zones = []
        for zone in sorted(server.zones.values(), key=lambda z: z.name.lower()):
            zdoc: dict[str, Any] = {"name": zone.name}
            reference = Zone(name=zone.name, is_ds_integrated=zone.is_ds_integrated,
                             replication_scope=zone.replication_scope)
            for fname in sorted(_ZONE_FIELDS):
                value = getattr(zone, fname)
                if fname in ("is_ds_integrated", "replication_scope") or value != getattr(reference, fname):
                    zdoc[fname] = value
            zdoc["records"] = [_dump_record(r) for r in zone.sorted_records()]
            zones.append(zdoc)
        servers.append({"name": server.name, "zones": zones})
    doc: dict[str, Any] = {"local": model.local}
    if changed:
        doc["behaviour"] = changed
    doc["servers"] = servers
    return doc


def _dump_record(rec: Record) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rec.name, "type": rec.rrtype, "ttl": rec.ttl}
    if rec.rrtype == "TXT":
        out["strings"] = list(rec.data["strings"])
    else:
        out["data"] = dict(rec.data)
    if rec.type_code and rec.rrtype.startswith("TYPE"):
        out["type_code"] = rec.type_code
    if rec.timestamp is not None:
        out["timestamp"] = rec.timestamp.isoformat().replace("+00:00", "Z")
    return out


def save_snapshot(model: WindowsDnsModel, path: Path) -> None:
    doc = model.dump()
    if path.suffix == ".json":
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=200), encoding="utf-8")

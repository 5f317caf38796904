"""Write desired-state YAML from live Resources (`reconciler import`): how a user adopts the tool.

Writers are registered per kind prefix; each returns {relative file path: YAML text}. Output loads
back through the loader to the same Resources (tests check the round trip).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import yaml

from ..model.resource import Resource
from .dns import DEFAULT_TTL

Writer = Callable[[list[Resource]], dict[str, str]]
WRITERS: dict[str, Writer] = {}


def register(prefix: str) -> Callable[[Writer], Writer]:
    def wrap(fn: Writer) -> Writer:
        WRITERS[prefix] = fn
        return fn
    return wrap


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "'" if any(c in value for c in ";:#{}[]&*!|>'\"%@`,") or value != value.strip() else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=4096)


def _mx(value: str) -> dict[str, Any]:
    pref, exch = value.split(" ", 1)
    return {"preference": int(pref), "exchange": exch}


def _srv(value: str) -> dict[str, Any]:
    pri, wei, port, tgt = value.split(" ", 3)
    return {"priority": int(pri), "weight": int(wei), "port": int(port), "target": tgt}


def _yaml_value(rtype: str, value: str) -> Any:
    if rtype == "MX":
        return _mx(value)
    if rtype == "SRV":
        return _srv(value)
    return value


@register("dns")
def write_dns(resources: list[Resource]) -> dict[str, str]:
    files: dict[str, str] = {}
    zones = sorted({r.key[0] for r in resources if r.kind == "dns.rrset"})
    for zone in zones:
        rrsets = [r for r in resources if r.kind == "dns.rrset" and r.key[0] == zone]
        ttl = Counter(int(r.data["ttl"]) for r in rrsets).most_common(1)[0][0] if rrsets else DEFAULT_TTL
        records: dict[str, Any] = {}
        for res in sorted(rrsets, key=lambda r: (r.key[1] != "@", r.key[1], r.key[2])):
            _, name, rtype = res.key
            entry: dict[str, Any] = {"type": rtype}
            if int(res.data["ttl"]) != ttl:
                entry["ttl"] = int(res.data["ttl"])
            values = [_yaml_value(rtype, v) for v in res.data["values"]]
            if len(values) == 1:
                entry["value"] = values[0]
            else:
                entry["values"] = values
            records.setdefault(name, []).append(entry)
        doc = {"zone": zone, "defaults": {"ttl": ttl},
               "records": {k: (v[0] if len(v) == 1 else v) for k, v in records.items()}}
        header = f"# Imported by `reconciler import` from the live zone {zone}.\n"
        files[f"dns/{zone}.yaml"] = header + dump_yaml(doc)
    return files


def write(resources: list[Resource]) -> dict[str, str]:
    files: dict[str, str] = {}
    for prefix, writer in WRITERS.items():
        mine = [r for r in resources if r.kind.startswith(prefix + ".")]
        if mine:
            files.update(writer(mine))
    return files

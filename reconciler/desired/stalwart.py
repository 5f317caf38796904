"""desired/stalwart/*.yaml ↔ canonical Resources (``stalwart.domain``, ``stalwart.account``, ``stalwart.dkim``).

Canonical forms shared with the Stalwart provider:
- e-mails: primary first, then the aliases sorted (the server returns them so, stalwart-api.md §4);
- roles, member_of, members sorted; quota in bytes;
- an account with ``secret:`` gets ``data["secret"] = "in sync"``: the provider reads the live
  status word (``in sync``, ``differs``, ``missing``, ``unknown``) and never the secret itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..model.resource import Origin, Resource
from .diagnostics import Diagnostics
from .identity import parse_size
from .writer import dump_yaml, register
from .yamlsource import YList, YMap

SECRET_IN_SYNC = "in sync"  # noqa: S105 - a status word, not a password
_GIB, _MIB, _KIB = 1024**3, 1024**2, 1024


def _items(doc: YMap, section: str) -> list[tuple[YMap, Origin]]:
    seq = doc.get(section) or YList()
    return [(item, Origin("", pos.line, pos.col)) for item, pos in zip(seq, getattr(seq, "item_pos", []),
                                                                      strict=False)]


def canonical_emails(emails: list[Any]) -> list[str]:
    lowered = [str(e).strip().lower() for e in emails]
    if not lowered:
        return []
    return [lowered[0], *sorted(set(lowered[1:]) - {lowered[0]})]


def load_stalwart(doc: YMap, path: Path, file: str, diags: Diagnostics) -> list[Resource]:
    out: list[Resource] = []
    for item, o in _items(doc, "domains"):
        data = {"description": item.get("description", "")}
        out.append(Resource("stalwart.domain", (str(item["name"]).lower().rstrip("."),), data, {},
                            Origin(file, o.line, o.col)))
    for item, o in _items(doc, "accounts"):
        origin = Origin(file, o.line, o.col)
        kind = item.get("type", "individual")
        data: dict[str, Any] = {
            "type": kind,
            "description": item.get("description", ""),
            "emails": canonical_emails(item["emails"]),
            "roles": sorted(item.get("roles") or (["user"] if kind == "individual" else [])),
            "member_of": sorted(str(x).lower() for x in item.get("member_of") or []),
        }
        if kind == "list" or "members" in item:
            data["members"] = sorted(str(x).lower() for x in item.get("members") or [])
        if "quota" in item:
            try:
                data["quota"] = parse_size(item["quota"])
            except ValueError as exc:
                pos = item.where("quota")
                diags.error(file, pos.line, pos.col, f"account {item['name']}: quota {exc}")
                continue
        meta: dict[str, Any] = {}
        if "secret" in item:
            meta["secret"] = item["secret"]
            data["secret"] = SECRET_IN_SYNC
        out.append(Resource("stalwart.account", (str(item["name"]).lower(),), data, meta, origin))
    for item, o in _items(doc, "dkim"):
        data = {"algorithm": item.get("algorithm", "rsa"), "domain": str(item["domain"]).lower(),
                "selector": item["selector"]}
        out.append(Resource("stalwart.dkim", (str(item["id"]),), data, {}, Origin(file, o.line, o.col)))
    return out


def format_size(value: int) -> str | int:
    for unit, size in (("GiB", _GIB), ("MiB", _MIB), ("KiB", _KIB)):
        if value and value % size == 0:
            return f"{value // size} {unit}"
    return value


@register("stalwart")
def write_stalwart(resources: list[Resource]) -> dict[str, str]:
    """`reconciler import`: YAML that loads back to the same Resources (secrets by reference are for
    the user to add: the server never gives a password out)."""
    domains = sorted((r for r in resources if r.kind == "stalwart.domain"), key=lambda r: r.key)
    accounts = sorted((r for r in resources if r.kind == "stalwart.account"), key=lambda r: r.key)
    dkim = sorted((r for r in resources if r.kind == "stalwart.dkim"), key=lambda r: r.key)
    doc: dict[str, Any] = {}
    if domains:
        doc["domains"] = [{"name": d.key[0], **({"description": d.data["description"]}
                                                if d.data.get("description") else {})} for d in domains]
    if accounts:
        doc["accounts"] = []
        for acct in accounts:
            data = acct.data
            entry: dict[str, Any] = {"name": acct.key[0]}
            if data.get("type", "individual") != "individual":
                entry["type"] = data["type"]
            if data.get("description"):
                entry["description"] = data["description"]
            entry["emails"] = list(data.get("emails") or [])
            if data.get("quota"):
                entry["quota"] = format_size(int(data["quota"]))
            default_roles = ["user"] if data.get("type", "individual") == "individual" else []
            if sorted(data.get("roles") or []) != default_roles:
                entry["roles"] = list(data.get("roles") or [])
            if data.get("member_of"):
                entry["member_of"] = list(data["member_of"])
            if data.get("type") == "list":
                entry["members"] = list(data.get("members") or [])
            doc["accounts"].append(entry)
    if dkim:
        doc["dkim"] = [{"id": k.key[0], "algorithm": k.data["algorithm"], "domain": k.data["domain"],
                        "selector": k.data["selector"]} for k in dkim]
    if not doc:
        return {}
    header = ("# Imported by `reconciler import` from Stalwart. Add `secret: env:NAME` (or file:PATH) to an\n"
              "# account to have reconciler set and check its password; the server never gives one out.\n")
    return {"stalwart/accounts.yaml": header + dump_yaml(doc)}

"""v0.15 directory -> v0.16 registry, the way ``resources/scripts/migrate_v016.py`` (MIG) converts it.

Used by the lab's version switch (an image pull plus the migration script): domains first, then
accounts (name = local part, domain from the name or the e-mail whose local part equals the name,
other addresses become aliases, the first password is copied verbatim), groups, mailing lists
(recipients = members' addresses and external members), DKIM signatures (``rsa-sha256`` ->
``Dkim1RsaSha256``; their v0.15 ids are not carried over, only domain and selector).
"""

from __future__ import annotations

from .names import id_to_str, sanitize_domain
from .registry_v016 import Registry, _defaults
from .store import Directory, Principal


def _domain_of(p: Principal) -> str | None:
    if "@" in p.name:
        return p.name.rsplit("@", 1)[1]
    fallback = None
    for email in p.emails:
        if "@" not in email:
            continue
        local, domain = email.rsplit("@", 1)
        if local == p.name:
            return domain
        fallback = fallback or domain
    return fallback


def migrate(directory: Directory, registry: Registry) -> dict[int, tuple[str, int]]:
    """Fill `registry` from `directory`; returns v0.15 principal id -> (v0.16 type, id)."""
    mapping: dict[int, tuple[str, int]] = {}
    with directory.lock, registry.lock:
        domains = {p.name for p in directory.principals.values() if p.type == "domain"}
        domains |= {e.rsplit("@", 1)[1] for e in directory.by_email if "@" in e}
        domain_ids: dict[str, str] = {}
        for name in sorted(domains):
            clean = sanitize_domain(name)
            if clean is None:
                continue
            obj = _defaults("Domain", None)
            source = directory.get(name)
            obj.update({"name": clean, "dkimManagement": {"@type": "Manual"},
                        "description": source.description if source else None})
            oid = registry.insert("Domain", obj, via="migration")
            domain_ids[name] = id_to_str(oid)
            if source is not None:
                mapping[source.id] = ("Domain", oid)
        ordered = sorted(directory.principals.values(), key=lambda p: p.id)
        for p in ordered:
            if p.type not in ("individual", "group", "list"):
                continue
            domain = _domain_of(p)
            if domain is None or domain not in domain_ids:
                continue
            local = p.name.rsplit("@", 1)[0]
            aliases = {}
            for email in p.emails:
                if "@" not in email:
                    continue
                a_local, a_domain = email.rsplit("@", 1)
                if (a_local, a_domain) == (local, domain) or a_domain not in domain_ids:
                    continue
                aliases[str(len(aliases))] = {"enabled": True, "name": a_local, "domainId": domain_ids[a_domain],
                                              "description": None}
            if p.type == "list":
                obj = _defaults("MailingList", None)
                recipients = {m.emails[0]: True for m in directory.members_of(p.id) if m.emails}
                recipients.update(dict.fromkeys(p.external_members, True))
                obj.update({"recipients": recipients})
                obj_type = "MailingList"
            else:
                obj_type = "Account"
                obj = _defaults("Account", "User" if p.type == "individual" else "Group")
                if p.quota:
                    obj["quotas"] = {"maxDiskQuota": p.quota}
                if p.type == "individual" and p.password is not None:
                    cred = {"@type": "Password", "credentialId": "0", "secret": p.password, "expiresAt": None,
                            "allowedIps": {}}
                    if p.otp:
                        cred["otpAuth"] = p.otp
                    obj["credentials"] = {"0": cred}
            obj.update({"name": local, "domainId": domain_ids[domain], "aliases": aliases,
                        "description": p.description})
            oid = registry.insert(obj_type, obj, via="migration", origin=p.origin)
            mapping[p.id] = (obj_type, oid)
        for p in ordered:  # group memberships once every account has its new id
            target = mapping.get(p.id)
            if target is None or target[0] != "Account" or p.type != "individual":
                continue
            groups = {id_to_str(mapping[g][1]): True for g in p.member_of
                      if g in mapping and directory.principals[g].type == "group"}
            registry.objects["Account"][target[1]]["memberGroupIds"] = groups
        for sig_id, sub in sorted(directory.signatures().items()):
            kinds = {"rsa-sha256": "Dkim1RsaSha256", "ed25519-sha256": "Dkim1Ed25519Sha256"}
            kind = kinds.get(sub.get("algorithm", ""))
            domain = sub.get("domain", "").lower()
            if kind is None or not sub.get("selector") or domain not in domain_ids or not sub.get("private-key"):
                continue  # MIG prints a warning and skips it
            sig = _defaults("DkimSignature", kind)
            sig.update({"domainId": domain_ids[domain], "selector": sub["selector"],
                        "canonicalization": sub.get("canonicalization", "relaxed/relaxed"),
                        "privateKey": {"@type": "Text", "secret": sub["private-key"].strip() + "\n"}})
            registry.insert("DkimSignature", sig, via="migration")
            del sig_id
    return mapping

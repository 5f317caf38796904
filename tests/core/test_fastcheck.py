"""The quick zone check may only ever say "valid" where the JSON Schema says valid too."""

from __future__ import annotations

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.desired.fastcheck import dns_zone_is_plainly_valid
from reconciler.desired.schema import load_schema

SCHEMA = jsonschema.Draft202012Validator(load_schema("dns"))

scalars = st.one_of(st.text(max_size=5), st.integers(-5, 2**31 + 5), st.booleans(), st.none(),
                    st.floats(allow_nan=False, width=16), st.just(""), st.just("stalwart"))
keys = st.sampled_from(["preference", "exchange", "priority", "weight", "port", "target", "flags", "tag",
                        "value", "from", "dkim", "other"])
value = st.one_of(scalars, st.dictionaries(keys, scalars, max_size=5))
record = st.dictionaries(
    st.sampled_from(["type", "ttl", "value", "values", "verify_only", "comment", "bogus"]),
    st.one_of(st.sampled_from(["A", "TXT", "MX", "SRV", "CAA", "a", "SOA"]), scalars, value,
              st.lists(value, max_size=3)),
    max_size=6)
entry = st.one_of(record, st.lists(record, max_size=3))
doc = st.fixed_dictionaries(
    {"records": st.one_of(st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), entry, max_size=4),
                          scalars)},
    optional={"zone": scalars, "defaults": st.one_of(st.dictionaries(st.sampled_from(["ttl", "x"]), scalars),
                                                     scalars), "extra": scalars})


# Near-valid documents: right shapes with edge values (negative or huge integers, bool for int,
# empty strings, a wrong `from`), so the quick check's "valid" answers are exercised, not just its "no".
ints = st.one_of(st.integers(-2, 70000), st.just(2**31 - 1), st.just(2**31), st.booleans())
good_value = st.one_of(
    st.text(max_size=6), st.integers(-3, 3),
    st.fixed_dictionaries({"preference": ints, "exchange": st.text(max_size=4)}),
    st.fixed_dictionaries({"priority": ints, "weight": ints, "port": ints, "target": st.text(max_size=4)}),
    st.fixed_dictionaries({"flags": ints, "tag": st.text(max_size=4), "value": st.text(max_size=4)}),
    st.fixed_dictionaries({"from": st.sampled_from(["stalwart", "vault"]), "dkim": st.text(max_size=3)}))
good_record = st.fixed_dictionaries(
    {"type": st.sampled_from(["A", "AAAA", "TXT", "MX", "SRV", "CAA", "CNAME", "SOA"])},
    optional={"ttl": ints, "value": good_value, "values": st.lists(good_value, max_size=3),
              "verify_only": st.one_of(st.booleans(), st.just(1)), "comment": st.one_of(st.text(max_size=3),
                                                                                        st.just(3))})
near_doc = st.fixed_dictionaries(
    {"records": st.dictionaries(st.text(max_size=4), st.one_of(good_record, st.lists(good_record, max_size=3)),
                                max_size=4)},
    optional={"zone": st.one_of(st.text(max_size=4), st.just(3)),
              "defaults": st.fixed_dictionaries({}, optional={"ttl": ints})})


@settings(max_examples=3000, deadline=None)
@given(st.one_of(doc, near_doc))
def test_fast_check_never_accepts_what_the_schema_rejects(candidate):
    if dns_zone_is_plainly_valid(candidate):
        assert SCHEMA.is_valid(candidate), candidate


def test_fast_check_accepts_the_ordinary_shapes():
    zone = {"zone": "namgun.or.kr", "defaults": {"ttl": 3600}, "records": {
        "@": [{"type": "MX", "value": {"preference": 10, "exchange": "mail"}},
              {"type": "TXT", "value": "v=spf1 mx ~all"}],
        "mail": {"type": "A", "values": ["211.244.144.69"], "ttl": 300, "comment": "메일"},
        "_sip._tcp": {"type": "SRV", "value": {"priority": 0, "weight": 5, "port": 5060, "target": "sip."}},
        "default._domainkey": {"type": "TXT", "value": {"from": "stalwart", "dkim": "rsa-namgun.or.kr"}},
    }}
    assert dns_zone_is_plainly_valid(zone) and SCHEMA.is_valid(zone)
    assert not dns_zone_is_plainly_valid({**zone, "records": {"x": {"type": "A", "value": True}}})
    # unhashable YAML values where a string belongs: "not sure", never a crash (found by the property)
    assert not dns_zone_is_plainly_valid({"records": {"": {"type": {}}}})
    assert not dns_zone_is_plainly_valid({"records": {"x": {"type": "TXT", "value": {"from": [], "dkim": "d"}}}})

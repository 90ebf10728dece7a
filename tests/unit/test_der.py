"""The bounded DER/BER reader: correct on valid input, total and linear on anything else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spnego._asn1 import (
    TagClass,
    pack_asn1,
    pack_asn1_enumerated,
    pack_asn1_integer,
    pack_asn1_object_identifier,
    pack_asn1_octet_string,
    pack_asn1_sequence,
)

from authlens.findings import Finding, Severity
from authlens.schemes import _der
from authlens.schemes._der import (
    APPLICATION,
    CONTEXT,
    UNIVERSAL,
    DerReader,
    Meter,
    Tlv,
    decode_oid,
)


def reader(data: bytes, **kwargs: int) -> tuple[DerReader, list[Finding]]:
    findings: list[Finding] = []
    return DerReader(data, findings, where="test", **kwargs), findings  # type: ignore[arg-type]


def ids(findings: list[Finding]) -> set[str]:
    return {f.id for f in findings}


def walk(r: DerReader, tlv: Tlv) -> int:
    """Visit every element below ``tlv`` and decode every leaf every way; count elements."""
    count = 1
    if tlv.constructed:
        for child in r.children(tlv):
            count += walk(r, child)
    else:
        r.content(tlv)
        r.oid(tlv)
        r.integer(tlv)
        r.text(tlv)
        r.bits(tlv)
        r.time(tlv)
    return count


# -- valid input -----------------------------------------------------------------------


def test_reads_short_and_long_form_lengths() -> None:
    small = pack_asn1_octet_string(b"x" * 5)
    big = pack_asn1_octet_string(b"y" * 300)  # 0x82 0x01 0x2c
    r, findings = reader(small + big)
    first = r.read(0)
    assert first is not None and first.is_tag(UNIVERSAL, _der.OCTET_STRING)
    assert r.content(first) == b"x" * 5
    second = r.read(first.end)
    assert second is not None and second.length == 300 and second.content_start == first.end + 4
    assert r.octets(second) == b"y" * 300
    assert findings == []


def test_nested_explicit_fields_as_in_kerberos() -> None:
    seq = pack_asn1_sequence(
        [
            pack_asn1(TagClass.context_specific, True, 0, pack_asn1_integer(5)),
            pack_asn1(TagClass.context_specific, True, 1, pack_asn1_integer(-2)),
            pack_asn1(TagClass.context_specific, True, 3, pack_asn1_octet_string(b"abc")),
        ]
    )
    token = pack_asn1(TagClass.application, True, 14, seq)
    r, findings = reader(token)
    app = r.read(0)
    assert app is not None and app.is_tag(APPLICATION, 14) and app.constructed
    inner = r.inner(app)
    assert inner is not None and inner.is_tag(UNIVERSAL, _der.SEQUENCE)
    fields = r.fields(inner)
    assert sorted(fields) == [0, 1, 3]
    assert r.integer(fields[0]) == 5
    assert r.integer(fields[1]) == -2
    assert r.octets(fields[3]) == b"abc"
    assert findings == []


def test_high_tag_number_form() -> None:
    token = pack_asn1(TagClass.context_specific, False, 200, b"\x01")
    r, findings = reader(token)
    tlv = r.read(0)
    assert tlv is not None and tlv.is_tag(CONTEXT, 200) and tlv.describe() == "[200]"
    assert findings == []


@pytest.mark.parametrize(
    "oid",
    [
        "1.3.6.1.5.5.2",
        "1.2.840.113554.1.2.2",
        "1.2.840.48018.1.2.2",
        "1.3.6.1.4.1.311.2.2.10",
        "1.3.6.1.4.1.311.2.2.30",
        "2.5.4.3",
        "0.9.2342.19200300.100.1.1",
    ],
)
def test_oids_match_pyspnego_encoding(oid: str) -> None:
    r, findings = reader(pack_asn1_object_identifier(oid))
    assert r.oid(r.read(0)) == oid
    assert findings == []


def test_known_oid_bytes() -> None:
    assert decode_oid(bytes.fromhex("2a864886f712010202")) == "1.2.840.113554.1.2.2"
    assert decode_oid(bytes.fromhex("2b0601050502")) == "1.3.6.1.5.5.2"
    assert decode_oid(bytes.fromhex("883703")) == "2.999.3"  # the X.690 §8.19.5 example
    assert decode_oid(b"\x2b\x86") is None  # ends inside a sub-identifier
    assert decode_oid(b"") is None


def test_enumerated_bits_time_text() -> None:
    data = (
        pack_asn1_enumerated(3)
        + pack_asn1(TagClass.universal, False, 3, b"\x00\x20\x00\x00\x00")
        + pack_asn1(TagClass.universal, False, 24, b"20240102030405Z")
        + pack_asn1(TagClass.universal, False, 27, b"CONTOSO.COM")
    )
    r, findings = reader(data)
    enum_tlv, bit_tlv, time_tlv, text_tlv = r.read_all(0, len(data))
    assert r.integer(enum_tlv, tag=_der.ENUMERATED) == 3
    assert r.bits(bit_tlv) == [2]  # mutual-required in APOptions
    assert r.time(time_tlv) == "2024-01-02T03:04:05Z"
    assert r.text(text_tlv) == "CONTOSO.COM"
    assert findings == []


# -- hostile input ---------------------------------------------------------------------


def test_indefinite_length_is_rejected_with_a_finding() -> None:
    r, findings = reader(b"\x30\x80\x02\x01\x05\x00\x00")
    assert r.read(0) is None
    assert ids(findings) == {_der.DER_INDEFINITE_LENGTH}
    assert findings[0].severity is Severity.ERROR


@pytest.mark.parametrize(
    "data",
    [
        b"\x04\x05abc",  # claims 5, holds 3
        b"\x04\x82\x01",  # length octets cut off
        b"\x04",  # no length at all
        b"\x1f\x81",  # high tag number cut off
        b"\x30\x84\xff\xff\xff\xff",  # 4 GiB
    ],
)
def test_lengths_past_the_end_are_out_of_bounds(data: bytes) -> None:
    r, findings = reader(data)
    assert r.read(0) is None
    assert ids(findings) == {_der.DER_OUT_OF_BOUNDS}


@pytest.mark.parametrize(
    "data", [b"\x04\x85\x00\x00\x00\x00\x01x", b"\x04\xff", b"\x1f\x81\x81\x81\x81\x01\x00"]
)
def test_invalid_length_or_tag_encodings_are_malformed(data: bytes) -> None:
    r, findings = reader(data)
    assert r.read(0) is None
    assert ids(findings) == {_der.DER_MALFORMED}


def test_child_may_not_run_past_its_parent() -> None:
    # The SEQUENCE says 3 bytes, its INTEGER says 5: the buffer would allow it, the parent not.
    data = b"\x30\x03\x02\x05\x01\x02\x03\x04\x05"
    r, findings = reader(data)
    seq = r.read(0)
    assert seq is not None
    assert r.children(seq) == []
    assert ids(findings) == {_der.DER_OUT_OF_BOUNDS}


def test_depth_is_capped() -> None:
    data = pack_asn1_integer(1)
    for _ in range(50):
        data = pack_asn1_sequence([data])
    r, findings = reader(data, max_depth=32)
    top = r.read(0)
    assert top is not None
    walk(r, top)
    assert _der.DER_TOO_DEEP in ids(findings)


def test_element_count_is_capped() -> None:
    data = pack_asn1_sequence([pack_asn1_integer(1)] * 100)
    r, findings = reader(data, max_elements=10)
    top = r.read(0)
    assert top is not None
    assert len(r.children(top)) == 9
    assert r.read(0) is None  # stopped for good
    assert ids(findings) == {_der.DER_TOO_MANY_ELEMENTS}


def test_oversized_integer_and_oid_are_refused() -> None:
    data = pack_asn1_integer(1 << 100) + pack_asn1(
        TagClass.universal, False, 6, b"\x81" * 100 + b"\x01"
    )
    r, findings = reader(data)
    integer, oid = r.read_all(0, len(data))
    assert r.integer(integer) is None
    assert r.oid(oid) is None
    assert ids(findings) == {_der.DER_MALFORMED}


def test_unexpected_tag_is_a_finding_not_a_crash() -> None:
    r, findings = reader(pack_asn1_integer(7))
    assert r.oid(r.read(0), "thisMech") is None
    assert ids(findings) == {_der.DER_UNEXPECTED_TAG}
    assert "thisMech" in findings[0].message


def test_trailing_bytes_inside_an_explicit_tag_are_reported() -> None:
    data = pack_asn1(TagClass.context_specific, True, 0, pack_asn1_integer(1) + b"\x00\x00")
    r, findings = reader(data)
    tagged = r.read(0)
    assert tagged is not None
    assert r.integer(r.inner(tagged)) == 1
    assert ids(findings) == {_der.DER_TRAILING_DATA}


def test_printable_escapes_controls_and_cuts() -> None:
    assert _der.printable("a\nb\x1b") == "a\\x0ab\\x1b"
    assert _der.printable("x" * 500, 10) == "x" * 10 + "…"


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_any_bytes_never_raise(data: bytes) -> None:
    r, findings = reader(data)
    pos = 0
    for tlv in r.read_all(0, len(data)):
        walk(r, tlv)
        pos = tlv.end
    assert pos <= len(data)
    assert all(isinstance(f, Finding) for f in findings)
    assert len(findings) <= _der.MAX_FINDINGS


@settings(max_examples=200)
@given(
    st.binary(min_size=1, max_size=200), st.sampled_from([0x30, 0x60, 0xA0, 0xA1, 0x6E, 0x04, 0x06])
)
def test_any_bytes_after_a_plausible_tag_never_raise(body: bytes, tag: int) -> None:
    data = bytes([tag]) + body
    r, _ = reader(data)
    for tlv in r.read_all(0, len(data)):
        walk(r, tlv)


# -- linear cost -----------------------------------------------------------------------


def cost(data: bytes) -> int:
    meter = Meter()
    r = DerReader(data, [], meter=meter, max_elements=10**9)
    for tlv in r.read_all(0, len(data)):
        walk(r, tlv)
    return meter.steps


@pytest.mark.parametrize(
    "build",
    [
        lambda n: pack_asn1_sequence([pack_asn1_integer(i) for i in range(n)]),
        lambda n: pack_asn1_sequence([pack_asn1_object_identifier("1.3.6.1.4.1.311.2.2.10")] * n),
        lambda n: b"".join(pack_asn1_octet_string(b"z" * 100) for _ in range(n)),
        lambda n: pack_asn1_sequence([pack_asn1_sequence([pack_asn1_integer(1)] * 3)] * n),
    ],
    ids=["integers", "oids", "octets", "nested"],
)
def test_work_is_linear_in_input_size(build: object) -> None:
    assert callable(build)
    small, large = build(2000), build(4000)
    per_byte_small = cost(small) / len(small)
    per_byte_large = cost(large) / len(large)
    assert per_byte_large <= 1.05 * per_byte_small, (per_byte_small, per_byte_large)

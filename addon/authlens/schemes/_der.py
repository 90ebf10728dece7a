"""A bounded DER/BER TLV reader for the GSS-API, SPNEGO and Kerberos tokens in Negotiate.

Why not a general ASN.1 library: a Negotiate header is attacker-controlled input and
authlens must describe even a broken token (a truncated ticket, a lying length) instead
of failing. This reader never raises to its callers. Every length is checked against the
element that encloses it (and so against the buffer); indefinite lengths (BER, X.690
§8.1.3.6, which DER forbids in §10.1) are rejected; nesting depth, the number of
elements, the length of a length and the size of OIDs and INTEGERs are capped. Each
problem becomes one :class:`~authlens.findings.Finding` and the reader returns ``None``
or an empty list at that spot, so callers show what was valid around it.

Cost is linear: reading a header touches at most 10 bytes, elements never overlap, each
is read once by the decoders that walk it, and a :class:`Meter` counts the work so tests
can check that doubling the input at most doubles it.

References: ITU-T X.690 (07/2002) §8.1 (TLV encoding), §8.19 (OBJECT IDENTIFIER), §10.1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from authlens.findings import Finding, error, warning

# Tag classes (X.690 §8.1.2.2, table 1).
UNIVERSAL = 0
APPLICATION = 1
CONTEXT = 2
PRIVATE = 3

# Universal tag numbers used by GSS-API, SPNEGO and Kerberos.
INTEGER = 2
BIT_STRING = 3
OCTET_STRING = 4
OBJECT_IDENTIFIER = 6
ENUMERATED = 10
SEQUENCE = 16
GENERAL_STRING = 27
GENERALIZED_TIME = 24

MAX_DEPTH = 32
MAX_ELEMENTS = 20_000
MAX_LENGTH_OCTETS = 4  # a length needing more than 4 octets (4 GiB) cannot be in a header
MAX_TAG_OCTETS = 4
MAX_OID_OCTETS = 64
MAX_INTEGER_OCTETS = 8
MAX_TEXT_CHARS = 1024
MAX_FINDINGS = 20

# Finding IDs.
DER_OUT_OF_BOUNDS = "der-out-of-bounds"
DER_INDEFINITE_LENGTH = "der-indefinite-length"
DER_MALFORMED = "der-malformed"
DER_TOO_DEEP = "der-too-deep"
DER_TOO_MANY_ELEMENTS = "der-too-many-elements"
DER_TRAILING_DATA = "der-trailing-data"
DER_UNEXPECTED_TAG = "der-unexpected-tag"

REF_TLV = "ITU-T X.690 §8.1"
REF_DEFINITE = "ITU-T X.690 §10.1"


class Meter:
    """Counts units of decoding work (headers read, bytes copied, loop turns).

    Decoders take an optional meter so tests can assert linear cost deterministically.
    """

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps = 0

    def tick(self, n: int = 1) -> None:
        self.steps += n


@dataclass(frozen=True, slots=True)
class Tlv:
    """One element: where its identifier, content and end are in the reader's buffer."""

    tag_class: int
    constructed: bool
    number: int
    start: int
    content_start: int
    end: int
    depth: int

    @property
    def length(self) -> int:
        return self.end - self.content_start

    def is_tag(self, tag_class: int, number: int) -> bool:
        return self.tag_class == tag_class and self.number == number

    def describe(self) -> str:
        """The tag as ASN.1 writes it, e.g. ``[APPLICATION 14]`` or ``SEQUENCE``."""
        return describe_tag(self.tag_class, self.number)


_UNIVERSAL_NAMES = {
    INTEGER: "INTEGER",
    BIT_STRING: "BIT STRING",
    OCTET_STRING: "OCTET STRING",
    OBJECT_IDENTIFIER: "OBJECT IDENTIFIER",
    ENUMERATED: "ENUMERATED",
    SEQUENCE: "SEQUENCE",
    GENERAL_STRING: "GeneralString",
    GENERALIZED_TIME: "GeneralizedTime",
}
_CLASS_NAMES = {APPLICATION: "APPLICATION ", CONTEXT: "", PRIVATE: "PRIVATE "}


def describe_tag(tag_class: int, number: int) -> str:
    if tag_class == UNIVERSAL:
        return _UNIVERSAL_NAMES.get(number, f"[UNIVERSAL {number}]")
    return f"[{_CLASS_NAMES.get(tag_class, '')}{number}]"


class DerReader:
    """Reads TLVs out of one buffer; problems go to ``findings``, never to exceptions.

    ``where`` names the structure for people ("SPNEGO token", "Kerberos ticket") in the
    finding messages. Several readers may share one findings list and one meter.
    """

    def __init__(
        self,
        data: bytes,
        findings: list[Finding],
        *,
        where: str = "token",
        meter: Meter | None = None,
        max_depth: int = MAX_DEPTH,
        max_elements: int = MAX_ELEMENTS,
    ) -> None:
        self.data = data
        self.findings = findings
        self.where = where
        self.meter = meter if meter is not None else Meter()
        self.max_depth = max_depth
        self.max_elements = max_elements
        self.elements = 0
        self._stopped = False  # set once the element cap is hit: later reads return nothing

    # -- reporting -----------------------------------------------------------------

    def note(self, finding: Finding) -> None:
        if len(self.findings) < MAX_FINDINGS and finding not in self.findings:
            self.findings.append(finding)

    def _bad(self, id: str, message: str, reference: str = REF_TLV) -> None:
        self.note(error(id, f"{self.where}: {message}", reference))

    # -- structure -----------------------------------------------------------------

    def read(
        self, start: int, end: int | None = None, *, depth: int = 0, what: str = ""
    ) -> Tlv | None:
        """The TLV at ``start``, which must end by ``end`` (default: the buffer's end)."""
        end = len(self.data) if end is None else min(end, len(self.data))
        label = f"{what} " if what else ""
        if self._stopped:
            return None
        if depth > self.max_depth:
            self._bad(
                DER_TOO_DEEP, f"the {label}element is nested more than {self.max_depth} deep."
            )
            return None
        self.elements += 1
        if self.elements > self.max_elements:
            self._stopped = True
            self.note(
                error(
                    DER_TOO_MANY_ELEMENTS,
                    f"{self.where}: more than {self.max_elements} elements; reading stopped.",
                    REF_TLV,
                )
            )
            return None
        self.meter.tick()
        data = self.data
        pos = start
        if pos >= end:
            self._bad(
                DER_OUT_OF_BOUNDS, f"the {label}element is missing: the data ends at byte {start}."
            )
            return None
        first = data[pos]
        pos += 1
        tag_class = first >> 6
        constructed = bool(first & 0x20)
        number = first & 0x1F
        if number == 0x1F:  # high-tag-number form, base 128 (X.690 §8.1.2.4)
            number = 0
            for i in range(MAX_TAG_OCTETS + 1):
                if pos >= end:
                    self._bad(DER_OUT_OF_BOUNDS, f"the {label}tag at byte {start} is cut off.")
                    return None
                if i == MAX_TAG_OCTETS:
                    self._bad(DER_MALFORMED, f"the {label}tag number at byte {start} is too long.")
                    return None
                octet = data[pos]
                pos += 1
                number = (number << 7) | (octet & 0x7F)
                if not octet & 0x80:
                    break
        if pos >= end:
            self._bad(DER_OUT_OF_BOUNDS, f"the {label}element at byte {start} has no length.")
            return None
        first_len = data[pos]
        pos += 1
        if first_len < 0x80:
            length = first_len
        elif first_len == 0x80:
            self._bad(
                DER_INDEFINITE_LENGTH,
                f"the {label}element at byte {start} uses the indefinite length form, which "
                "DER does not allow.",
                REF_DEFINITE,
            )
            return None
        else:
            count = first_len & 0x7F
            if count > MAX_LENGTH_OCTETS:  # includes the reserved 0xFF (X.690 §8.1.3.5 c)
                self._bad(
                    DER_MALFORMED, f"the {label}element at byte {start} has an invalid length."
                )
                return None
            if pos + count > end:
                self._bad(
                    DER_OUT_OF_BOUNDS,
                    f"the length of the {label}element at byte {start} is cut off.",
                )
                return None
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        if pos + length > end:
            self._bad(
                DER_OUT_OF_BOUNDS,
                f"the {label}element at byte {start} claims {length} bytes but only "
                f"{max(end - pos, 0)} remain.",
            )
            return None
        return Tlv(tag_class, constructed, number, start, pos, pos + length, depth)

    def read_all(self, start: int, end: int, *, depth: int = 0, what: str = "") -> list[Tlv]:
        """Consecutive TLVs filling ``[start, end)``; stops at the first broken one."""
        out: list[Tlv] = []
        pos = start
        while pos < end:
            tlv = self.read(pos, end, depth=depth, what=what)
            if tlv is None:
                break
            out.append(tlv)
            pos = tlv.end
        return out

    def children(self, tlv: Tlv, what: str = "") -> list[Tlv]:
        """The elements inside a constructed ``tlv``."""
        if not tlv.constructed:
            self._bad(DER_MALFORMED, f"the {what or tlv.describe()} element should be constructed.")
            return []
        return self.read_all(tlv.content_start, tlv.end, depth=tlv.depth + 1, what=what)

    def inner(self, tlv: Tlv, what: str = "") -> Tlv | None:
        """The single element inside an explicitly tagged ``tlv`` (e.g. ``[0] SEQUENCE``)."""
        if not tlv.constructed:
            self._bad(DER_MALFORMED, f"the {what or tlv.describe()} element should be constructed.")
            return None
        inner = self.read(tlv.content_start, tlv.end, depth=tlv.depth + 1, what=what)
        if inner is not None and inner.end != tlv.end:
            self.note(
                warning(
                    DER_TRAILING_DATA,
                    f"{self.where}: {tlv.end - inner.end} unexpected bytes follow the "
                    f"{what or inner.describe()} element.",
                    REF_TLV,
                )
            )
        return inner

    def fields(self, tlv: Tlv, what: str = "") -> dict[int, Tlv]:
        """A SEQUENCE of explicit context tags ``[n]`` mapped number -> inner element.

        This is the shape of every SPNEGO and Kerberos structure; tags that are not
        context-specific are ignored, a repeated tag keeps its first value.
        """
        out: dict[int, Tlv] = {}
        for child in self.children(tlv, what):
            if child.tag_class != CONTEXT or child.number in out:
                continue
            value = self.inner(child, f"{what} [{child.number}]".strip())
            if value is not None:
                out[child.number] = value
        return out

    def expect(self, tlv: Tlv | None, tag_class: int, number: int, what: str) -> Tlv | None:
        """``tlv`` if it has the expected tag, else ``None`` with a finding."""
        if tlv is None:
            return None
        if not tlv.is_tag(tag_class, number):
            self._bad(
                DER_UNEXPECTED_TAG,
                f"{what} should be {describe_tag(tag_class, number)} but is {tlv.describe()}.",
            )
            return None
        return tlv

    # -- leaf values ---------------------------------------------------------------

    def content(self, tlv: Tlv) -> bytes:
        self.meter.tick(tlv.length)
        return self.data[tlv.content_start : tlv.end]

    def oid(self, tlv: Tlv | None, what: str = "OBJECT IDENTIFIER") -> str | None:
        """Dotted OID text (X.690 §8.19), or ``None`` with a finding."""
        tlv = self.expect(tlv, UNIVERSAL, OBJECT_IDENTIFIER, what)
        if tlv is None:
            return None
        if not 0 < tlv.length <= MAX_OID_OCTETS:
            self._bad(DER_MALFORMED, f"{what} has an invalid length ({tlv.length} bytes).")
            return None
        oid = decode_oid(self.content(tlv))
        if oid is None:
            self._bad(DER_MALFORMED, f"{what} is not a valid OBJECT IDENTIFIER.")
        return oid

    def integer(self, tlv: Tlv | None, what: str = "INTEGER", *, tag: int = INTEGER) -> int | None:
        """A small two's-complement INTEGER or ENUMERATED (X.690 §8.3), or ``None``."""
        tlv = self.expect(tlv, UNIVERSAL, tag, what)
        if tlv is None:
            return None
        if not 0 < tlv.length <= MAX_INTEGER_OCTETS:
            self._bad(DER_MALFORMED, f"{what} has an invalid length ({tlv.length} bytes).")
            return None
        return int.from_bytes(self.content(tlv), "big", signed=True)

    def octets(self, tlv: Tlv | None, what: str = "OCTET STRING") -> bytes | None:
        tlv = self.expect(tlv, UNIVERSAL, OCTET_STRING, what)
        return None if tlv is None else self.content(tlv)

    def text(self, tlv: Tlv | None, what: str = "string") -> str | None:
        """A KerberosString/GeneralString as text (UTF-8 as Windows sends it, else replaced)."""
        if tlv is None:
            return None
        if tlv.constructed or tlv.tag_class != UNIVERSAL:
            self._bad(DER_UNEXPECTED_TAG, f"{what} should be a string but is {tlv.describe()}.")
            return None
        return clip(self.content(tlv).decode("utf-8", "replace"))

    def bits(self, tlv: Tlv | None, what: str = "BIT STRING") -> list[int] | None:
        """Indices of the set bits of a BIT STRING (bit 0 = most significant, X.690 §8.6)."""
        tlv = self.expect(tlv, UNIVERSAL, BIT_STRING, what)
        if tlv is None:
            return None
        raw = self.content(tlv)
        if not raw or raw[0] > 7:
            self._bad(DER_MALFORMED, f"{what} is not a valid BIT STRING.")
            return None
        out: list[int] = []
        for index, octet in enumerate(raw[1:9]):  # 64 bits is plenty for any flag set
            out.extend(index * 8 + bit for bit in range(8) if octet & (0x80 >> bit))
        return out

    def time(self, tlv: Tlv | None, what: str = "KerberosTime") -> str | None:
        """A GeneralizedTime ``YYYYMMDDHHMMSSZ`` as ISO 8601; other forms shown as sent."""
        tlv = self.expect(tlv, UNIVERSAL, GENERALIZED_TIME, what)
        if tlv is None:
            return None
        raw = self.content(tlv).decode("ascii", "replace")
        m = _GENERALIZED_TIME.fullmatch(raw)
        if not m:
            return clip(raw)
        y, mo, d, h, mi, s = m.groups()
        return f"{y}-{mo}-{d}T{h}:{mi}:{s}Z"


_GENERALIZED_TIME = re.compile(r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z")


def decode_oid(raw: bytes) -> str | None:
    """Dotted text of OID content octets, or ``None`` if they are not a valid encoding."""
    if not raw or len(raw) > MAX_OID_OCTETS or raw[-1] & 0x80:
        return None
    arcs: list[int] = []
    value = 0
    for octet in raw:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: object, limit: int = 120) -> str:
    """Text from the traffic made safe for a one-line sentence: controls escaped, cut."""
    text = clip(str(value), limit)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters (marked with an ellipsis) so output stays bounded."""
    return text if len(text) <= limit else text[:limit] + "…"

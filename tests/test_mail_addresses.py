"""Addresses: lenient parsing of received headers, strict validation of caller input."""

from __future__ import annotations

import pytest

from agentinbox.errors import ValidationError
from agentinbox.mail.addresses import (
    Address,
    address_key,
    decode_header_value,
    decode_legacy,
    normalize_recipients,
    parse_address,
    parse_address_list,
    validate_address,
)

# -- Address ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (Address("", "a@example.com"), "a@example.com"),
        (Address("Alice", "a@example.com"), "Alice <a@example.com>"),
        (Address("Doe, Jane", "j@example.com"), '"Doe, Jane" <j@example.com>'),
        (Address("John Q. Public", "j@example.com"), '"John Q. Public" <j@example.com>'),
        (Address('Say "hi"', "h@example.com"), '"Say \\"hi\\"" <h@example.com>'),
        (Address("Jörg Müller", "j@example.com"), "Jörg Müller <j@example.com>"),  # unicode kept, no RFC 2047
        (Address("李雷", "li@example.cn"), "李雷 <li@example.cn>"),
    ],
)
def test_address_str(address: Address, expected: str) -> None:
    assert str(address) == expected


def test_address_is_frozen_and_hashable() -> None:
    address = Address("A", "a@example.com")
    with pytest.raises(AttributeError):
        address.name = "B"  # type: ignore[misc]
    assert {address, Address("A", "a@example.com")} == {address}


@pytest.mark.parametrize("name", ["Doe, Jane", 'Say "hi"', "Jörg Müller", "back\\slash", "a@b"])
def test_formatted_address_parses_back(name: str) -> None:
    address = Address(name, "x@example.com")
    assert parse_address(str(address)) == address


# -- lenient parsing ----------------------------------------------------------------------------------


def test_parse_address_list_decodes_names_and_skips_garbage() -> None:
    value = (
        '=?utf-8?q?J=C3=B6rg?= <j@example.com>, <>, undisclosed-recipients:;, "Doe, Jane" <jane@example.com>,'
        " plain@example.org (Comment Name), garbage"
    )
    assert parse_address_list(value) == [
        Address("Jörg", "j@example.com"),
        Address("Doe, Jane", "jane@example.com"),
        Address("Comment Name", "plain@example.org"),
    ]


@pytest.mark.parametrize("value", [None, "", "   ", "<>", "undisclosed-recipients:;", "not an address", "a@"])
def test_parse_address_list_empty(value: str | None) -> None:
    assert parse_address_list(value) == []


def test_parse_address_list_group_and_folding() -> None:
    value = "Team: a@example.com,\r\n b@example.com;, c@example.com"
    assert [a.address for a in parse_address_list(value)] == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]


def test_parse_address_list_raw_utf8_from_compat32() -> None:
    # compat32 keeps raw 8-bit header bytes as surrogate escapes.
    raw = "Jörg <jörg@bücher.de>".encode().decode("ascii", "surrogateescape")
    assert parse_address_list(raw) == [Address("Jörg", "jörg@bücher.de")]


def test_parse_address_list_survives_pathological_headers() -> None:
    # Thousands of ":" make email.utils.getaddresses recurse (group syntax) until RecursionError.
    value = "x <a@b>, " + " ".join("=?utf-8?Q?date=3E10:08:28?=" for _ in range(3000))
    assert isinstance(parse_address_list(value), list)


def test_parse_address() -> None:
    assert parse_address("Alice <A@Example.com>") == Address("Alice", "A@Example.com")
    assert parse_address("a@x.com, b@y.com") == Address("", "a@x.com")
    assert parse_address("MAILER-DAEMON") is None
    assert parse_address("") is None


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("Alice <Alice@Example.COM>", "alice@example.com"),
        ("  BOB@example.com ", "bob@example.com"),
        ('"Doe, Jane" <Jane@Example.com>', "jane@example.com"),
        ("Jörg <Jörg@Bücher.de>", "jörg@bücher.de"),
        ("not an address", "not an address"),
    ],
)
def test_address_key(value: str, key: str) -> None:
    assert address_key(value) == key


# -- header decoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", "plain text"),
        ("folded\r\n text", "folded text"),
        ("=?utf-8?q?caf=C3=A9?=", "café"),
        ("Re: =?utf-8?q?caf=C3=A9?= time", "Re: café time"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # RFC 2047 §6.2: space between encoded-words is dropped
        ("=?ISO-8859-1?B?SWYgeW8=?=\r\n =?ISO-8859-2?B?dSBkbw==?=", "If you do"),  # charset change, no space
        ("=?utf-8?b?w6k?=", "é"),  # missing padding is tolerated
        ("=?x-unknown?q?caf=C3=A9?=", "café"),  # unknown charset: UTF-8
        ("=?utf-8*en?q?caf=C3=A9?=", "café"),  # RFC 2231 language suffix
        ("=?utf-8?q?caf=E9?=", "caf\ufffd"),  # bytes invalid in their charset
        ("a\x00b", "a\ufffdb"),
        ("", ""),
    ],
)
def test_decode_header_value(value: str, expected: str) -> None:
    assert decode_header_value(value) == expected


def test_decode_header_value_none() -> None:
    assert decode_header_value(None) is None


def test_decode_header_value_raw_8bit() -> None:
    utf8 = "Grüße 👋".encode().decode("ascii", "surrogateescape")
    assert decode_header_value(utf8) == "Grüße 👋"
    cp1252 = "Café …".encode("cp1252").decode("ascii", "surrogateescape")
    assert decode_header_value(cp1252) == "Café …"
    # Raw UTF-8 next to an encoded-word.
    mixed = "Jörg =?utf-8?q?M=C3=BCller?=".encode().decode("ascii", "surrogateescape")
    assert decode_header_value(mixed) == "Jörg Müller"


def test_decode_legacy() -> None:
    assert decode_legacy("é".encode()) == "é"
    assert decode_legacy("é€".encode("cp1252")) == "é€"
    assert decode_legacy(b"\x81\x8d") == "\x81\x8d"  # undefined in cp1252: Latin-1, every byte kept


# -- strict validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("user@example.com", Address("", "user@example.com")),
        ("  user@example.com  ", Address("", "user@example.com")),
        ("User.Name+tag@Example.COM", Address("", "User.Name+tag@example.com")),  # local part kept as given
        ("Alice <alice@example.com>", Address("Alice", "alice@example.com")),
        ("Alice<alice@example.com>", Address("Alice", "alice@example.com")),
        ("<alice@example.com>", Address("", "alice@example.com")),
        ('"Doe, Jane" <jane@example.com>', Address("Doe, Jane", "jane@example.com")),
        ('"Say \\"hi\\"" <h@example.com>', Address('Say "hi"', "h@example.com")),
        ("Dr. Who <who@example.com>", Address("Dr. Who", "who@example.com")),
        ("Jörg Müller <jörg@bücher.de>", Address("Jörg Müller", "jörg@bücher.de")),
        ("用户@例子.广告", Address("", "用户@例子.广告")),
        ("a@xn--bcher-kva.de", Address("", "a@xn--bcher-kva.de")),
        ('"john doe"@example.com', Address("", '"john doe"@example.com')),
        ("a@localhost", Address("", "a@localhost")),
        ("a@[192.0.2.1]", Address("", "a@[192.0.2.1]")),
        ("a@[IPv6:2001:db8::1]", Address("", "a@[IPv6:2001:db8::1]")),
        ("!#$%&'*+-/=?^_`{|}~@example.com", Address("", "!#$%&'*+-/=?^_`{|}~@example.com")),
        ("x" * 64 + "@example.com", Address("", "x" * 64 + "@example.com")),
    ],
)
def test_validate_address_accepts(value: str, expected: Address) -> None:
    assert validate_address(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("bob", "no '@'"),
        ("bob.example.com", "no '@'"),
        ("@example.com", "local part"),
        ("bob@", "domain"),
        ("a..b@example.com", "local part"),
        (".a@example.com", "local part"),
        ("a.@example.com", "local part"),
        ("a b@example.com", "local part"),
        ("a@exa mple.com", "domain label"),
        ("a@example..com", "empty label"),
        ("a@example.com.", "empty label"),
        ("a@-example.com", "domain label"),
        ("a@example-.com", "domain label"),
        ("a@exam_ple.com", "domain label"),
        ("a@" + "x" * 64 + ".com", "domain label"),
        ("a@1.2.3.4", "numeric"),
        ("a@[999.1.1.1]", "IP address"),
        ("x" * 65 + "@example.com", "64 octets"),
        ("a@" + ".".join(["x" * 60] * 5), "253"),
        ("a@example.com, b@example.com", "more than one address"),
        ("a@example.com; b@example.com", "more than one address"),
        ("Doe, Jane <jane@example.com>", "quote it"),
        ('"Jane <jane@example.com>', "quotes"),
        ('Ja"ne <jane@example.com>', "stray quote"),
        ("Jane <jane@example.com", "angle brackets"),
        ("Jane jane@example.com>", "angle brackets"),
        ("Jane <jane@example.com> extra", "angle brackets"),
        ("Jane <>", "no address"),
        ("a@example.com\r\nBcc: victim@example.com", "line break"),
        ("Jane\n <jane@example.com>", "line break"),
        ("a@example.com\x00", "NUL"),
    ],
)
def test_validate_address_refuses(value: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_address(value, field="cc")
    assert fragment in info.value.message
    assert info.value.errors[0]["path"] == ["cc"]
    assert info.value.code == "validation_error"


def test_validate_address_overlong() -> None:
    value = "x" * 60 + "@" + ".".join(["y" * 60, "y" * 60, "y" * 60, "y" * 13])
    with pytest.raises(ValidationError, match="254"):
        validate_address(value)


def test_validate_address_non_string() -> None:
    with pytest.raises(ValidationError, match="string"):
        validate_address(42)  # type: ignore[arg-type]


# -- normalize_recipients -----------------------------------------------------------------------------


def test_normalize_recipients_single_string() -> None:
    assert normalize_recipients("Alice <alice@example.com>", field="to") == ["Alice <alice@example.com>"]


def test_normalize_recipients_list_dedupes_case_insensitively_keeping_order() -> None:
    value = [
        "b@example.com",
        "Alice <alice@example.com>",
        "B@EXAMPLE.com",
        "Other <ALICE@example.com>",
        "c@x.org",
    ]
    assert normalize_recipients(value, field="to") == [
        "b@example.com",
        "Alice <alice@example.com>",
        "c@x.org",
    ]


def test_normalize_recipients_formats() -> None:
    assert normalize_recipients(['"Doe, Jane" <Jane@Example.COM>', "Jörg <j@BÜCHER.de>"], field="cc") == [
        '"Doe, Jane" <Jane@example.com>',
        "Jörg <j@bücher.de>",
    ]


@pytest.mark.parametrize("value", [None, []])
def test_normalize_recipients_empty(value: list[str] | None) -> None:
    assert normalize_recipients(value, field="to") == []


def test_normalize_recipients_reports_the_index() -> None:
    with pytest.raises(ValidationError) as info:
        normalize_recipients(["ok@example.com", "broken"], field="bcc")
    assert info.value.errors[0]["path"] == ["bcc", 1]
    assert "bcc[1]" in info.value.message


@pytest.mark.parametrize("value", [42, {"a": "b"}, ["ok@example.com", None]])
def test_normalize_recipients_wrong_types(value: object) -> None:
    with pytest.raises(ValidationError):
        normalize_recipients(value, field="to")  # type: ignore[arg-type]


def test_normalize_recipients_refuses_injection() -> None:
    with pytest.raises(ValidationError) as info:
        normalize_recipients("a@example.com\r\nBcc: all@example.com", field="to")
    assert info.value.errors[0]["path"] == ["to"]

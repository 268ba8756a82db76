"""Reading delivery status notifications: which message they report on and what became of each recipient."""

from __future__ import annotations

from agentinbox.mail.dsn import is_report, parse_report


def _report(status_part: str, returned: str, *, report_type: str = "delivery-status") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com\r\n"
        "To: agent@agents.test\r\n"
        "Subject: Delivery Status Notification (Failure)\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type={report_type};\r\n boundary="XX"\r\n'
        "\r\n"
        "--XX\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "Delivery failed.\r\n"
        "--XX\r\n"
        f"{status_part}"
        "--XX\r\n"
        f"{returned}"
        "--XX--\r\n"
    ).encode()


STATUS = (
    "Content-Type: message/delivery-status\r\n"
    "\r\n"
    "Reporting-MTA: dns; mx.example.com\r\n"
    "Arrival-Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
    "\r\n"
    "Final-Recipient: rfc822; Ann@Example.com\r\n"
    "Original-Recipient: rfc822;ann@example.com\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <ann@example.com>:\r\n"
    "    Recipient address rejected: User unknown\r\n"
    "\r\n"
    "Final-Recipient: rfc822; bob@example.com\r\n"
    "Action: delayed\r\n"
    "Status: 4.4.7\r\n"
)

RETURNED_MESSAGE = (
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: Agent <agent@agents.test>\r\n"
    "To: ann@example.com\r\n"
    "Message-ID: <abc.123@agents.test>\r\n"
    "Subject: Hello\r\n"
    "\r\n"
    "Body.\r\n"
)

RETURNED_HEADERS = (
    "Content-Type: text/rfc822-headers\r\n"
    "\r\n"
    "From: Agent <agent@agents.test>\r\n"
    "Message-ID:\r\n <folded.456@agents.test>\r\n"
    "Subject: Hello\r\n"
)


def test_a_report_with_the_returned_message() -> None:
    report = parse_report(_report(STATUS, RETURNED_MESSAGE))
    assert report is not None
    assert report.original_message_id == "<abc.123@agents.test>"
    assert [(r.address, r.action, r.status) for r in report.recipients] == [
        ("ann@example.com", "failed", "5.1.1"),
        ("bob@example.com", "delayed", "4.4.7"),
    ]
    assert report.recipients[0].diagnostic == (
        "smtp; 550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown"
    )
    assert [r.address for r in report.failed] == ["ann@example.com"]


def test_a_report_with_only_the_returned_headers() -> None:
    report = parse_report(_report(STATUS, RETURNED_HEADERS))
    assert report is not None and report.original_message_id == "<folded.456@agents.test>"


def test_a_status_part_without_recipients_or_actions_yields_none() -> None:
    status = "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; x@y\r\n"
    report = parse_report(_report(status, RETURNED_HEADERS))
    assert report is not None and report.recipients == []


def test_other_mail_is_not_a_report() -> None:
    assert parse_report(b"From: a@b\r\nSubject: hi\r\n\r\nhello\r\n") is None
    read_receipt = _report(STATUS, RETURNED_HEADERS, report_type="disposition-notification")
    assert parse_report(read_receipt) is None
    assert not is_report(None)
    assert not is_report("text/plain")
    assert is_report('multipart/report; report-type="delivery-status"; boundary=x')


def test_broken_reports_never_raise() -> None:
    for raw in (
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nno boundary at all",
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="q"\r\n\r\n--q\r\n\xff\xfe\x00',
        b"\x00\x01\x02",
        b"",
    ):
        report = parse_report(raw)
        assert report is None or report.recipients == []

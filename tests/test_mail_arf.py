"""Reading abuse feedback reports (ARF, RFC 5965): which message they are about, who complained, and why."""

from __future__ import annotations

import pytest

from agentinbox.mail.arf import is_feedback_report, parse_feedback_report


def feedback_report(
    fields: str,
    returned: str,
    *,
    report_type: str = "feedback-report",
    fields_type: str = "message/feedback-report",
) -> bytes:
    return (
        "From: <staff@feedback.example.net>\r\n"
        "To: <fbl@agents.test>\r\n"
        "Subject: Email Feedback Report\r\n"
        "Message-ID: <report-1@feedback.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type={report_type};\r\n boundary="fb"\r\n'
        "\r\n"
        "--fb\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "This is an email abuse report.\r\n"
        "--fb\r\n"
        f"Content-Type: {fields_type}\r\n"
        "\r\n"
        f"{fields}"
        "--fb\r\n"
        f"{returned}"
        "--fb--\r\n"
    ).encode()


FIELDS = (
    "Feedback-Type: abuse\r\n"
    "User-Agent: ExampleFBL/2.0\r\n"
    "Version: 1\r\n"
    "Original-Mail-From: <agent@agents.test>\r\n"
    "Original-Rcpt-To: <Ann@Example.com>\r\n"
    "Arrival-Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
    "Source-IP: 192.0.2.1\r\n"
    "\r\n"
)

RETURNED_MESSAGE = (
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: Agent <agent@agents.test>\r\n"
    "To: ann@example.com\r\n"
    "Message-ID: <sent.1@agents.test>\r\n"
    "Subject: Offer\r\n"
    "\r\n"
    "Body.\r\n"
)

RETURNED_HEADERS = (
    "Content-Type: text/rfc822-headers\r\n"
    "\r\n"
    "From: Agent <agent@agents.test>\r\n"
    "Message-ID:\r\n <folded.2@agents.test>\r\n"
    "Subject: Offer\r\n"
)


def test_a_report_with_the_returned_message() -> None:
    report = parse_feedback_report(feedback_report(FIELDS, RETURNED_MESSAGE))
    assert report is not None
    assert report.feedback_type == "abuse" and report.sub_type == "General"
    assert report.original_message_id == "<sent.1@agents.test>"
    assert report.original_recipients == ["ann@example.com"]
    assert report.original_mail_from == "agent@agents.test"
    assert report.user_agent == "ExampleFBL/2.0"


def test_a_report_with_only_the_returned_headers_and_several_recipients() -> None:
    fields = FIELDS.replace(
        "Original-Rcpt-To: <Ann@Example.com>\r\n",
        "Original-Rcpt-To: ann@example.com\r\nOriginal-Rcpt-To: <bob@example.com>\r\n"
        "Original-Rcpt-To: ann@example.com\r\nOriginal-Rcpt-To: not an address\r\n",
    )
    report = parse_feedback_report(feedback_report(fields, RETURNED_HEADERS))
    assert report is not None and report.original_message_id == "<folded.2@agents.test>"
    assert report.original_recipients == ["ann@example.com", "bob@example.com"]


def test_an_authentication_failure_report_names_the_failed_check_as_its_sub_type() -> None:
    fields = "Feedback-Type: auth-failure\r\nAuth-Failure: DKIM\r\nVersion: 1\r\n\r\n"
    report = parse_feedback_report(feedback_report(fields, RETURNED_HEADERS))
    assert report is not None
    assert (report.feedback_type, report.sub_type) == ("auth-failure", "dkim")
    assert report.original_recipients == [] and report.original_mail_from is None


def test_fields_after_a_blank_line_or_base64_encoded_are_still_read() -> None:
    blank_first = parse_feedback_report(feedback_report("\r\n" + FIELDS, RETURNED_MESSAGE))
    assert blank_first is not None and blank_first.feedback_type == "abuse"
    encoded = "RmVlZGJhY2stVHlwZTogZnJhdWQNCk9yaWdpbmFsLVJjcHQtVG86IDxhbm5AZXhhbXBsZS5jb20+DQo=\r\n"
    raw = feedback_report(
        encoded, RETURNED_MESSAGE, fields_type="message/feedback-report\r\nContent-Transfer-Encoding: base64"
    )
    report = parse_feedback_report(raw)
    assert report is not None and report.feedback_type == "fraud"
    assert report.original_recipients == ["ann@example.com"]


def test_a_report_without_feedback_type_or_report_part_is_none() -> None:
    assert parse_feedback_report(feedback_report("Version: 1\r\n\r\n", RETURNED_MESSAGE)) is None
    assert parse_feedback_report(feedback_report(FIELDS, RETURNED_MESSAGE, fields_type="text/plain")) is None


def test_a_report_without_the_returned_message_matches_nothing() -> None:
    report = parse_feedback_report(feedback_report(FIELDS, "Content-Type: text/plain\r\n\r\nredacted\r\n"))
    assert report is not None and report.original_message_id is None


def test_other_mail_is_not_a_feedback_report() -> None:
    assert parse_feedback_report(b"From: a@b\r\nSubject: hi\r\n\r\nhello\r\n") is None
    dsn = feedback_report(FIELDS, RETURNED_MESSAGE, report_type="delivery-status")
    assert parse_feedback_report(dsn) is None
    assert not is_feedback_report(None) and not is_feedback_report("text/plain")
    assert not is_feedback_report("multipart/report; report-type=delivery-status")
    assert is_feedback_report('Multipart/Report; report-type="feedback-report"; boundary=x')


@pytest.mark.parametrize(
    "raw",
    [
        b"Content-Type: multipart/report; report-type=feedback-report\r\n\r\nno boundary at all",
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="q"\r\n\r\n--q\r\n\xff\xfe\x00',
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="q"\r\n\r\n--q\r\n'
        b"Content-Type: message/feedback-report\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64\r\n--q--",
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="q"\r\n\r\n--q\r\n'
        b"Content-Type: message/feedback-report\r\n\r\nFeedback-Type:\r\n--q--",
        b"\x00\x01\x02",
        b"",
    ],
)
def test_broken_reports_never_raise(raw: bytes) -> None:
    report = parse_feedback_report(raw)
    assert report is None or report.original_message_id is None

"""The demo's local outbox: one readable .eml file per message."""

from __future__ import annotations

from email import message_from_bytes, policy

from django.core.mail import EmailMultiAlternatives, get_connection

from notifications.delivery.tracking import status_after_send


def test_it_writes_one_eml_file_per_message(tmp_path):
    connection = get_connection("notifications.outbox.EmailBackend", file_path=tmp_path)
    messages = [
        EmailMultiAlternatives(
            "Votre choix LinkedIn", f"Bonjour Hélène {n}", to=[f"p{n}@example.com"]
        )
        for n in range(3)
    ]
    messages[0].attach_alternative("<p>Bonjour</p>", "text/html")
    assert connection.send_messages(messages) == 3
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 3
    assert "p0@example.com" in files[0].name
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Votre choix LinkedIn"
    assert parsed.get_body(("plain",)).get_content().strip() == "Bonjour Hélène 0"
    assert not list(tmp_path.glob(".*"))  # no half-written file left behind


def test_it_counts_the_outbox_as_delivered():
    assert status_after_send("notifications.outbox.EmailBackend") == "delivered"

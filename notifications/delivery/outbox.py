"""The demo's local outbox: every message as its own ``.eml`` file.

Django's file backend appends a whole connection's messages (a chunk of a
hundred) to one ``.log`` file, which nobody can read comfortably. An ``.eml``
file per message opens in any mail program (Thunderbird, Outlook, Apple Mail)
or a text editor, and its name says when and to whom it went.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")


class EmailBackend(BaseEmailBackend):
    def __init__(self, *, file_path: str | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.folder = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            self._write(message)
            sent += 1
        return sent

    def _write(self, message: EmailMessage) -> None:
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
        to = _UNSAFE.sub("_", message.recipients()[0])[:80]
        name = f"{stamp}-{to}-{uuid.uuid4().hex[:8]}.eml"
        # Written under a temporary name and renamed, so a reader never sees
        # half a message.
        temporary = self.folder / f".{name}.tmp"
        temporary.write_bytes(message.message().as_bytes(linesep="\n"))
        os.replace(temporary, self.folder / name)

"""Identity check before sensitive operations: a one-time passcode (OTP) step.

``OTPVerifier`` is the interface the bank's OTP service plugs into. ``StubOTPVerifier`` stands in
until then: it "sends" nothing and accepts any 6-digit code except ``000000`` (or exactly
``BANKBOT_OTP_STUB_CODE`` when that variable is set).
"""

from __future__ import annotations

import os
import re
from typing import Protocol

OTP_PATTERN = re.compile(r"(?<!\d)(\d{6})(?!\d)")


class OTPVerifier(Protocol):
    """What the dialogue needs from an OTP service."""

    def send(self, sender_id: str) -> None:
        """Send a passcode to the customer's registered phone."""

    def verify(self, sender_id: str, code: str) -> bool:
        """True when ``code`` is the customer's current passcode."""


class StubOTPVerifier:
    """Development stand-in for the bank's OTP service."""

    def send(self, sender_id: str) -> None:
        """Nothing is sent by the stub."""

    def verify(self, sender_id: str, code: str) -> bool:
        """Accept the configured code, or any 6 digits but ``000000``."""
        expected = os.environ.get("BANKBOT_OTP_STUB_CODE")
        if expected:
            return code == expected
        return bool(re.fullmatch(r"\d{6}", code)) and code != "000000"


def find_code(text: str) -> str | None:
    """The 6-digit code in a message, if any."""
    m = OTP_PATTERN.search(text.replace(" ", ""))
    return m.group(1) if m else None

"""An authenticator app for tests: enrolls staff in TOTP and types their codes.

Staff (RISK_OFFICER, AUDITOR, ADMIN) act only once TOTP is on, so every harness
that makes staff enrolls them here, through the real commands (write model) or
the real mutations (GraphQL):

    officer = register(app, "officer", (Role.RISK_OFFICER,))
    device = enroll(app, officer)            # TOTP on: the officer may act
    code = device.code()                     # for signIn(…, totp: code)

Codes follow the real clock and each time step is accepted once, so `code()`
never hands out a step it handed out before: two codes are available per 30 s
(the current step and the next, inside the ±1 window; never the previous one,
which the server may already have left behind); a third waits for the clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from application import two_factor
from application.crowdfund import Crowdfund

ENROLL = """mutation { enrollTotp { __typename
  ... on TotpEnrollment { secret otpauthUri qrCode recoveryCodes }
  ... on Problem { code message } } }"""
CONFIRM = """mutation($c: String!) { confirmTotp(code: $c) { __typename
  ... on AuthPayload { token user { id roles } } ... on Problem { code message } } }"""


@dataclass
class Authenticator:
    secret: str
    recovery_codes: list[str] = field(default_factory=list)
    last_step: int = -1
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def code(self) -> str:
        """A code for a time step this device has not shown before (waits if needed)."""
        with self._lock:
            while True:
                current = int(time.time()) // two_factor.STEP_SECONDS
                step = max(current, self.last_step + 1)
                if step <= current + two_factor.WINDOW_STEPS:
                    self.last_step = step
                    return two_factor.code_for(self.secret, step * two_factor.STEP_SECONDS)
                time.sleep(0.5)

    def recovery_code(self) -> str:
        return self.recovery_codes.pop()


def enroll(app: Crowdfund, user_id: UUID | str) -> Authenticator:
    """TOTP on for the user, through the commands (as enrollTotp and confirmTotp do)."""
    device = Authenticator(two_factor.new_secret(), two_factor.new_recovery_codes())
    app.accounts.start_totp_enrollment(user_id, device.secret, device.recovery_codes)
    app.accounts.confirm_totp(user_id, device.code())
    return device


GraphQL = Callable[[str, dict[str, Any], str], dict[str, Any]]


def enroll_over_graphql(graphql: GraphQL, token: str) -> tuple[Authenticator, str]:
    """TOTP on through the API (`graphql(query, variables, token)` answers `data`);
    the device and the fresh token confirmTotp answers (older tokens are revoked)."""
    enrollment = graphql(ENROLL, {}, token)["enrollTotp"]
    assert enrollment["__typename"] == "TotpEnrollment", enrollment
    device = Authenticator(enrollment["secret"], list(enrollment["recoveryCodes"]))
    confirmed = graphql(CONFIRM, {"c": device.code()}, token)["confirmTotp"]
    assert confirmed["__typename"] == "AuthPayload", confirmed
    return device, str(confirmed["token"])

"""The second factor's rules, on the user aggregate and the in-memory store: staff act
only with TOTP on, a code's time step is accepted once, recovery codes work once, an
enrollment counts only once confirmed with a code of the new secret."""

from __future__ import annotations

import time

import pytest

from application import two_factor
from application.crowdfund import Crowdfund
from domain.errors import InvalidStateError, NotAllowedError
from domain.user import EVERYONE, Role
from tests.authenticator import Authenticator, enroll
from tests.scenario import register

pytestmark = pytest.mark.fast


def test_staff_roles_wait_for_totp_other_roles_do_not(memory_app: Crowdfund) -> None:
    uid = register(memory_app, "officer", (*EVERYONE, Role.RISK_OFFICER, Role.AUDITOR))
    user = memory_app.user(uid)
    assert user.roles_in_force() == ["BACKER", "FOUNDER"]
    assert user.roles_awaiting_totp() == ["RISK_OFFICER", "AUDITOR"]
    with pytest.raises(NotAllowedError) as refused:
        user.require_role(Role.RISK_OFFICER, "approve campaigns")
    assert refused.value.code == "TOTP_ENROLLMENT_REQUIRED"
    with pytest.raises(NotAllowedError) as refused:
        user.require_role(Role.ADMIN, "grant roles")
    assert refused.value.code == "NOT_ALLOWED"  # not held at all: the usual refusal
    enroll(memory_app, uid)
    user = memory_app.user(uid)
    assert user.acts_as(Role.RISK_OFFICER) and user.roles_awaiting_totp() == []


def test_a_step_is_accepted_once_and_never_an_earlier_one(memory_app: Crowdfund) -> None:
    uid = register(memory_app)
    device = enroll(memory_app, uid)
    code = device.code()
    memory_app.accounts.prove_second_factor(uid, code)
    with pytest.raises(NotAllowedError) as replay:
        memory_app.accounts.prove_second_factor(uid, code)
    assert replay.value.code == "INVALID_CREDENTIALS"
    user = memory_app.user(uid)
    assert not user.fresh_step(user.totp_last_step - 1)
    with pytest.raises(NotAllowedError) as missing:
        memory_app.accounts.prove_second_factor(uid, None)
    assert missing.value.code == "TOTP_REQUIRED"


def test_recovery_codes_work_once_whatever_their_spelling(memory_app: Crowdfund) -> None:
    uid = register(memory_app)
    device = enroll(memory_app, uid)
    code = device.recovery_code()
    memory_app.accounts.prove_second_factor(uid, f"  {code.upper()} ")
    with pytest.raises(NotAllowedError):
        memory_app.accounts.prove_second_factor(uid, code.replace("-", ""))
    assert len(memory_app.user(uid).recovery_codes) == two_factor.RECOVERY_CODES - 1


def test_an_enrollment_counts_once_confirmed_with_its_own_secret(
    memory_app: Crowdfund,
) -> None:
    uid = register(memory_app)
    with pytest.raises(InvalidStateError) as nothing:
        memory_app.accounts.confirm_totp(uid, "123456")
    assert nothing.value.code == "TOTP_NOT_PENDING"
    old = enroll(memory_app, uid)
    new = Authenticator(two_factor.new_secret())
    memory_app.accounts.start_totp_enrollment(uid, new.secret, [])
    assert memory_app.user(uid).totp_secret == old.secret  # in force until confirmed
    with pytest.raises(NotAllowedError):
        memory_app.accounts.confirm_totp(uid, two_factor.code_for(old.secret, time.time()))
    memory_app.accounts.confirm_totp(uid, new.code())
    user = memory_app.user(uid)
    assert user.totp_secret == new.secret and user.totp_pending is None
    assert list(user.recovery_codes) == []  # the old device's codes went with it


def test_codes_are_matched_within_one_step_either_side() -> None:
    secret = two_factor.new_secret()
    at = 1_900_000_000.0
    step = int(at) // 30
    for offset in (-1, 0, 1):
        code = two_factor.code_for(secret, at + 30 * offset)
        assert two_factor.matching_step(secret, code, at) == step + offset
    for offset in (-2, 2):
        assert two_factor.matching_step(secret, two_factor.code_for(secret, at + 30 * offset),
                                        at) is None
    assert two_factor.matching_step(secret, "12345", at) is None
    assert two_factor.matching_step(secret, "abcdef", at) is None
    uri = two_factor.provisioning_uri(secret, "ann@example.com")
    assert uri.startswith("otpauth://totp/Crowdfund:ann%40example.com?secret=")

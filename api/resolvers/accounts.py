"""Accounts, roles, investor profiles and KYC: signUp, signIn, grantRole, me, limits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.enums import Regime, Role
from api.inputs import (
    Answers,
    EmailArg,
    InvestorProfileInput,
    KnowledgeAnswerInput,
    SignUpInput,
    check,
    checked_reason,
)
from api.payloads import (
    AuthPayload,
    AuthResult,
    InvestorProfileResult,
    InvestorProfileSaved,
    KnowledgeTestResult,
    KnowledgeTestTaken,
    RoleGranted,
    RoleResult,
)
from api.resolvers.common import Outcome, answer, mutate
from api.resolvers.credentials import Opened, open_session
from api.scalars import Long
from api.security import (
    hash_password,
    normalize_email,
    validate_email,
    validate_password,
)
from api.types import (
    InvestmentLimit,
    KnowledgeQuestion,
    User,
    load_user,
    question_from_domain,
    user_from_record,
)
from application.crowdfund import Crowdfund
from application.unit_of_work import Written
from domain import knowledge_test
from domain.errors import NotFoundError, ValidationError
from domain.rulebook import Regime as DomainRegime
from domain.user import EVERYONE
from domain.user import Role as DomainRole
from domain.user import User as UserRecord


async def _user_record(info: Info[Any, Any], user_id: UUID | str) -> UserRecord:
    services = auth.context(info).services
    return await services.run(services.app.user, user_id)


async def _signed_up(info: Info[Any, Any], written: Written[UUID]) -> AuthPayload:
    record = await _user_record(info, written.value)
    return await open_session(info, Opened(record, ("pwd",), written.position))


async def _profile_saved(info: Info[Any, Any], written: Written[UUID]) -> InvestorProfileSaved:
    record = await _user_record(info, written.value)
    return InvestorProfileSaved(user=user_from_record(record), position=Long(written.position))


async def _role_granted(info: Info[Any, Any], written: Written[UUID]) -> RoleGranted:
    record = await _user_record(info, written.value)
    return RoleGranted(user=user_from_record(record), position=Long(written.position))


SIGNED_UP = Outcome(AuthResult, _signed_up)
PROFILE_SAVED = Outcome(InvestorProfileResult, _profile_saved)
ROLE_GRANTED = Outcome(RoleResult, _role_granted)


async def _test_taken(
    info: Info[Any, Any], taken: tuple[Written[UUID], UserRecord, str]
) -> KnowledgeTestTaken:
    written, record, regime = taken
    result = next(t for t in record.knowledge_tests if t.regime == regime)
    return KnowledgeTestTaken(passed=result.passed, score=result.score, out_of=result.out_of,
                              position=Long(written.position))


TEST_TAKEN = Outcome(KnowledgeTestResult, _test_taken)


async def sign_up(info: Info[Any, Any], input: SignUpInput) -> AuthResult:
    services = auth.context(info).services

    def register() -> Written[UUID]:
        args = input.checked()
        if (problem := validate_email(args.email)) is not None:
            raise ValidationError(problem, "email")
        if (problem := validate_password(args.password, args.email)) is not None:
            raise ValidationError(problem, "password", "WEAK_PASSWORD")
        password_hash = hash_password(args.password, hasher=services.hasher)
        return services.app.accounts.register(
            normalize_email(args.email), args.display_name, password_hash, EVERYONE
        )

    return await answer(info, SIGNED_UP, register)


async def grant_role(info: Info[Any, Any], email: str, role: Role) -> RoleResult:
    def grant(app: Crowdfund, who: Viewer) -> Written[UUID]:
        auth.check_role(who, DomainRole.ADMIN, "grant roles")
        target = app.user_by_email(normalize_email(check(EmailArg, email=email).email))
        if target is None:
            raise NotFoundError("No user has that e-mail address.")
        return app.accounts.grant_role(who.id, target.id, DomainRole(role.value))

    return await mutate(info, ROLE_GRANTED, grant)


async def submit_investor_profile(
    info: Info[Any, Any], input: InvestorProfileInput
) -> InvestorProfileResult:
    return await mutate(
        info, PROFILE_SAVED, lambda app, who: app.accounts.submit_investor_profile(
            who.id, **input.checked().model_dump()),
    )


async def verify_investor(info: Info[Any, Any], user_id: strawberry.ID) -> InvestorProfileResult:
    return await mutate(
        info, PROFILE_SAVED, lambda app, who: app.accounts.verify_investor(who.id, str(user_id))
    )


async def reject_investor(
    info: Info[Any, Any], user_id: strawberry.ID, reason: str
) -> InvestorProfileResult:
    return await mutate(
        info, PROFILE_SAVED, lambda app, who: app.accounts.reject_investor(
            who.id, str(user_id), checked_reason(reason)),
    )


# Queries ------------------------------------------------------------------------------


async def me(info: Info[Any, Any]) -> User | None:
    who = auth.viewer(info)
    return None if who is None else await load_user(info, who.id)


async def investment_limit(info: Info[Any, Any], regime: Regime) -> InvestmentLimit:
    who = auth.require_viewer(info)
    services = auth.context(info).services

    def compute() -> InvestmentLimit:
        user = services.app.user(who.id)
        now = services.clock.now()
        which = DomainRegime(regime.value)
        headroom = user.headroom(which, now)
        return InvestmentLimit(
            regime=regime, limit=headroom.limit, used=headroom.used,
            remaining=headroom.remaining,
            # Art. 21(5): the loss-bearing simulation, ECSP only.
            can_bear_to_lose=user.ecsp_loss_bearing() if which is DomainRegime.ECSP else None,
            knowledge_test_passed=user.knowledge_test_passed(which, now),
        )

    return await services.run(compute)


def knowledge_test_questions(regime: Regime) -> list[KnowledgeQuestion]:
    """Anyone: the questions of a regime's test, without the right answers."""
    return [question_from_domain(q) for q in knowledge_test.questions(DomainRegime(regime.value))]


async def take_knowledge_test(
    info: Info[Any, Any], regime: Regime, answers: list[KnowledgeAnswerInput]
) -> KnowledgeTestResult:
    def take(app: Crowdfund, who: Viewer) -> tuple[Written[UUID], UserRecord, str]:
        args = check(Answers, regime=regime, answers=[a.checked() for a in answers])
        which = DomainRegime(args.regime.value)
        written = app.accounts.take_knowledge_test(who.id, which, args.sheet())
        return written, app.user(who.id), which.value

    return await mutate(info, TEST_TAKEN, take)

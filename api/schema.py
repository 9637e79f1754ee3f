"""The GraphQL schema, built once per process from the resolver modules.

`schema` is what the app serves; `sdl()` prints it (`crowdfund schema`).
Safety: depth, token and alias limits, parser and validation caches, errors
masked unless they are client errors, introspection off outside `dev`
(`IntrospectionGate` adds the rule per operation).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api import aml, personal_data
from api.audit_types import AuditEvent, AuditEventType, ChainVerification, EventLogPage
from api.context import Context
from api.enums import CampaignStatus, DocumentKind, Regime, Role, SecurityType
from api.finance import CapTable, Distribution, EscrowBalance, PlatformStats
from api.notice_types import NotificationConnection, NotificationsReadResult, QuestionResult
from api.payloads import (
    AuthResult,
    CampaignResult,
    ClockResult,
    DistributionPreviewResult,
    DistributionResult,
    DocumentResult,
    InvestorProfileResult,
    KnowledgeTestResult,
    PasswordResetRequested,
    PledgeResult,
    RoleResult,
    SignedOutResult,
    TotpEnrollmentResult,
    UpdateResult,
)
from api.problems import Problem
from api.resolvers import accounts as accounts_r
from api.resolvers import campaigns as campaigns_r
from api.resolvers import credentials as credentials_r
from api.resolvers import finance as finance_r
from api.resolvers import notices as notices_r
from api.resolvers import offerings as offerings_r
from api.resolvers import platform as platform_r
from api.resolvers import pledges as pledges_r
from api.resolvers import subscriptions as subscriptions_r
from api.resolvers import transparency as transparency_r
from api.scalars import SCALARS, Long
from api.transparency_types import ConsistencyProof, InclusionProof, LogKey, SignedTreeHead
from api.types import (
    Campaign,
    CampaignConnection,
    InvestmentLimit,
    Issuer,
    KnowledgeQuestion,
    Pledge,
    User,
)

log = logging.getLogger("api.errors")

MAX_DEPTH = 10
MAX_TOKENS = 2000
MAX_ALIASES = 15


@strawberry.type
class Query:
    me: User | None = strawberry.field(resolver=accounts_r.me)
    campaign: Campaign | None = strawberry.field(resolver=campaigns_r.campaign)
    campaigns: CampaignConnection = strawberry.field(resolver=campaigns_r.campaigns)
    my_pledges: list[Pledge] = strawberry.field(
        resolver=pledges_r.my_pledges, description="The signed-in backer's pledges."
    )
    my_campaigns: list[Campaign] = strawberry.field(
        resolver=campaigns_r.my_campaigns,
        description="The signed-in user's own campaigns (as their founder), every status, "
        "newest first.",
    )
    investment_limit: InvestmentLimit = strawberry.field(
        resolver=accounts_r.investment_limit,
        description="The signed-in backer's limit under a regime.",
    )
    cap_table: CapTable = strawberry.field(
        resolver=finance_r.cap_table,
        description="Founder of the campaign, risk officers, auditors.",
    )
    distributions: list[Distribution] = strawberry.field(resolver=finance_r.distributions)
    escrow: EscrowBalance = strawberry.field(resolver=finance_r.escrow)
    distribution_preview: DistributionPreviewResult = strawberry.field(
        resolver=finance_r.distribution_preview,
        description="The founder of a SETTLED campaign: what declareDistribution would pay "
        "each shareholder of `total`, to the cent, by the same rule and checks (the same "
        "problems); nothing is declared.",
    )
    review_queue: list[Campaign] = strawberry.field(
        resolver=campaigns_r.review_queue,
        description="Campaigns waiting for review (risk officers).",
    )
    audit_trail: list[AuditEvent] = strawberry.field(
        resolver=platform_r.audit_trail,
        description="Auditors: one stream's events in order; with `asOf`, only those that "
        "occurred up to that instant.",
    )
    event_log: EventLogPage = strawberry.field(
        resolver=platform_r.event_log, description="Auditors: the global event log from a "
        "position; optionally only the events of a stream type, an event type, a stream or a "
        "time range."
    )
    audit_event_types: list[AuditEventType] = strawberry.field(
        resolver=platform_r.audit_event_types,
        description="Auditors: every stream type and event type the log can hold.",
    )
    campaign_as_of: Campaign | None = strawberry.field(
        resolver=platform_r.campaign_as_of,
        description="Auditors: a campaign's state rebuilt from its events up to an instant.",
    )
    verify_audit_chains: ChainVerification = strawberry.field(
        resolver=platform_r.verify_audit_chains,
        description="Auditors: recompute every stream's hash chain, and the SHA-256 of every "
        "document recorded in it (a changed or missing file fails at its DocumentUploaded).",
    )
    platform_stats: PlatformStats = strawberry.field(
        resolver=finance_r.platform_stats, description="Admins and auditors."
    )
    my_notifications: NotificationConnection = strawberry.field(
        resolver=notices_r.my_notifications,
        description="The signed-in member's notifications, newest first.",
    )
    caught_up: bool = strawberry.field(
        resolver=platform_r.caught_up,
        description="True once every read model has applied `position`; waits up to timeoutMs.",
    )
    log_head: SignedTreeHead = strawberry.field(
        resolver=transparency_r.log_head,
        description="Anyone: the latest signed tree head (at most a few seconds behind the "
        "log's head).",
    )
    inclusion_proof: InclusionProof = strawberry.field(
        resolver=transparency_r.inclusion_proof,
        description="Anyone: proof that the event at `position` is in the tree of `treeSize` "
        "(default: the latest head).",
    )
    consistency_proof: ConsistencyProof = strawberry.field(
        resolver=transparency_r.consistency_proof,
        description="Anyone: proof that the tree of `toSize` (default: latest) extends the "
        "tree of `fromSize`.",
    )
    log_keys: list[LogKey] = strawberry.field(
        resolver=transparency_r.log_keys,
        description="Anyone: the keys that sign tree heads, current and retired.",
    )
    knowledge_test: list[KnowledgeQuestion] = strawberry.field(
        resolver=accounts_r.knowledge_test_questions,
        description="Anyone. Stable ids; the correct choices are never sent.",
    )
    issuer: Issuer | None = strawberry.field(resolver=campaigns_r.issuer)
    aml_alerts: list[aml.AmlAlert] = strawberry.field(
        resolver=aml.aml_alerts, description="Risk officers and auditors."
    )
    kyc_queue: list[personal_data.KycApplication] = strawberry.field(
        resolver=personal_data.kyc_queue, description="Risk officers: PENDING profiles, oldest "
        "first. Each one shown is recorded in the applicant's dataAccessLog."
    )
    data_access_log: list[personal_data.DataAccess] = strawberry.field(
        resolver=personal_data.data_access_log,
        description="Auditors, admins, and the subject themself: who was shown the user's "
        "personal data (the KYC queue, a profile, an e-mail address), newest first.",
    )


@strawberry.type
class Mutation:
    sign_up: AuthResult = strawberry.mutation(resolver=accounts_r.sign_up)
    sign_in: AuthResult = strawberry.mutation(
        resolver=credentials_r.sign_in,
        description="`totp`: the current 6-digit code, required once the user has confirmed "
        "a TOTP enrollment (`NotAllowed` `TOTP_REQUIRED` without it, `NotAllowed` "
        "`INVALID_CREDENTIALS` when wrong); an unused recovery code is accepted instead.",
    )
    sign_out: SignedOutResult = strawberry.mutation(
        resolver=credentials_r.sign_out,
        description="Revokes the caller's token at once (every replica refuses it afterwards).",
    )
    change_password: AuthResult = strawberry.mutation(
        resolver=credentials_r.change_password,
        description="Revokes every other token of the user.",
    )
    request_password_reset: PasswordResetRequested = strawberry.mutation(
        resolver=credentials_r.request_password_reset,
        description="Always answers the same, whether or not the account exists; e-mails a "
        "one-time token valid 30 minutes if it does.",
    )
    reset_password: AuthResult = strawberry.mutation(
        resolver=credentials_r.reset_password,
        description="The token from the e-mail; revokes every token of the user. `totp`: "
        "needed too when the user has TOTP on (or a recovery code).",
    )
    enroll_totp: TotpEnrollmentResult = strawberry.mutation(
        resolver=credentials_r.enroll_totp,
        description="RFC 6238 TOTP (SHA-1, 6 digits, 30 s, checked against the real clock, "
        "never the test clock). Staff (RISK_OFFICER, AUDITOR, ADMIN) must enroll: until they "
        "have, their staff queries and mutations answer FORBIDDEN / `NotAllowed` "
        "`TOTP_ENROLLMENT_REQUIRED`.",
    )
    confirm_totp: AuthResult = strawberry.mutation(
        resolver=credentials_r.confirm_totp,
        description="Confirms the enrollment with a current code; answers a fresh token.",
    )
    grant_role: RoleResult = strawberry.mutation(
        resolver=accounts_r.grant_role, description="Admins only."
    )
    submit_investor_profile: InvestorProfileResult = strawberry.mutation(
        resolver=accounts_r.submit_investor_profile,
        description="A backer's identity and finances; sets KYC to PENDING.",
    )
    verify_investor: InvestorProfileResult = strawberry.mutation(
        resolver=accounts_r.verify_investor, description="Risk officers."
    )
    reject_investor: InvestorProfileResult = strawberry.mutation(
        resolver=accounts_r.reject_investor
    )
    draft_campaign: CampaignResult = strawberry.mutation(
        resolver=campaigns_r.draft_campaign,
        description="Any signed-in user; they become the campaign's founder.",
    )
    amend_campaign: CampaignResult = strawberry.mutation(
        resolver=campaigns_r.amend_campaign,
        description="In DRAFT or REJECTED: a plain edit. While LIVE: a material change; every "
        "open pledge must be reconfirmed.",
    )
    submit_campaign: CampaignResult = strawberry.mutation(resolver=campaigns_r.submit_campaign)
    approve_campaign: CampaignResult = strawberry.mutation(
        resolver=campaigns_r.approve_campaign, description="Risk officers."
    )
    reject_campaign: CampaignResult = strawberry.mutation(resolver=campaigns_r.reject_campaign)
    launch_campaign: CampaignResult = strawberry.mutation(resolver=campaigns_r.launch_campaign)
    close_early: CampaignResult = strawberry.mutation(
        resolver=campaigns_r.close_early,
        description="Founder: close early at a new deadline (rules of the regime apply).",
    )
    cancel_campaign: CampaignResult = strawberry.mutation(resolver=campaigns_r.cancel_campaign)
    post_update: UpdateResult = strawberry.mutation(resolver=campaigns_r.post_update)
    upload_document: DocumentResult = strawberry.mutation(
        resolver=offerings_r.upload_document,
        description="The campaign's founder, while DRAFT, REJECTED or LIVE. At most 10 MiB; "
        "PDF, PNG, JPEG or WebP, decided from the content. A FORM_C or KIIS uploaded while "
        "LIVE is a material change.",
    )
    pledge: PledgeResult = strawberry.mutation(resolver=pledges_r.pledge)
    cancel_pledge: PledgeResult = strawberry.mutation(resolver=pledges_r.cancel_pledge)
    reconfirm_pledge: PledgeResult = strawberry.mutation(resolver=pledges_r.reconfirm_pledge)
    declare_distribution: DistributionResult = strawberry.mutation(
        resolver=finance_r.declare_distribution,
        description="Founder of a SETTLED campaign: pay `total` out to its shareholders pro "
        "rata, to the cent.",
    )
    take_knowledge_test: KnowledgeTestResult = strawberry.mutation(
        resolver=accounts_r.take_knowledge_test,
        description="Graded on the server. Passing is required before the first REG_CF pledge "
        "(17 CFR 227.303(b)(2)). Under ECSP a non-sophisticated investor who has not passed is "
        "warned and must acknowledge the risk on every pledge (Art. 21(4)). It may be retaken "
        "at once; the answer says how many answers were right, not which.",
    )
    decide_alert: aml.AlertResult = strawberry.mutation(
        resolver=aml.decide_alert,
        description="Risk officers. DISMISSED clears a screening hold; ESCALATED freezes the "
        "subject's pledging.",
    )
    ask_question: QuestionResult = strawberry.mutation(
        resolver=notices_r.ask_question,
        description="Any signed-in user, on a LIVE campaign (17 CFR 227.303(c)); at most 2,000 "
        "characters, at most 5 questions an hour and 20 a day.",
    )
    answer_question: QuestionResult = strawberry.mutation(
        resolver=notices_r.answer_question,
        description="The campaign's founder; answers are public.",
    )
    hide_question: QuestionResult = strawberry.mutation(
        resolver=notices_r.hide_question,
        description="Risk officers: hide an abusive question. It stays in the audit trail.",
    )
    mark_notifications_read: NotificationsReadResult = strawberry.mutation(
        resolver=notices_r.mark_notifications_read,
        description="The signed-in user's own notifications.",
    )
    set_clock: ClockResult = strawberry.mutation(
        resolver=platform_r.set_clock,
        description="Only when the server runs with a test clock: move the platform's clock "
        "and run what fell due.",
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Emits on every change of the campaign's read model.")
    async def campaign_progress(
        self, info: strawberry.Info[Any, Any], campaign_id: strawberry.ID
    ) -> AsyncGenerator[subscriptions_r.CampaignProgress, None]:
        async for item in subscriptions_r.campaign_progress(info, campaign_id):
            yield item


class SafetyLimits(AddValidationRules):
    """The depth and alias limits. Their rule classes are made once, here, not per
    request: `ValidationCache` keys on (schema, document, rules), so rules made afresh
    for each request (the limiters built by a factory) made every request miss it."""

    RULES = (
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    )

    def __init__(self) -> None:
        super().__init__(list(self.RULES))


class IntrospectionGate(SchemaExtension):
    """Introspection only in dev: the rule is added per operation, from the context,
    so one schema serves both (the validation cache keys on the rule set)."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context.context
        if not (isinstance(ctx, Context) and ctx.services.dev):
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules, NoSchemaIntrospectionCustomRule
            )
        yield


# Errors before execution (syntax, validation, variable coercion: no path) and
# deliberate GraphQLErrors (auth, bad input) are the client's; anything else is a bug.
def should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError) and bool(error.path)


class CrowdfundSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log bugs without personal data: exception type, path and code locations only
        (an exception's message or a query's variables may carry e-mails or names)."""
        for error in errors:
            original = error.original_error
            if original is None or not should_mask(error):
                continue
            frames = "".join(traceback.format_tb(original.__traceback__, limit=20))
            log.error("unexpected %s at %s\n%s", type(original).__name__, error.path, frames)


schema = CrowdfundSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    # Screening types: the KYC queue (kycQueue, KycApplication.screening) shows them.
    types=[
        Problem, Role, Regime, CampaignStatus, SecurityType, DocumentKind, Long, aml.Screening,
        aml.ScreeningStatus,
    ],
    config=StrawberryConfig(scalar_map=SCALARS),
    extensions=[
        IntrospectionGate,
        SafetyLimits,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),  # a parse option, no rule
        ParserCache,
        ValidationCache,
        lambda: MaskErrors(should_mask_error=should_mask, error_message="Internal error."),
    ],
)


def sdl() -> str:
    return schema.as_str()

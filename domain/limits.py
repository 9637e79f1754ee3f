"""How long each piece of text may be: one home for the domain's checks and the
API's input models (our choices, sized for display and storage; none is a rule of
a regime)."""

from __future__ import annotations

CAMPAIGN_TITLE = 200
CAMPAIGN_SUMMARY = 5000
UPDATE_TITLE = 200
UPDATE_BODY = 20000
REASON = 2000
DISPLAY_NAME = 100
LEGAL_NAME = 200
IDEMPOTENCY_KEY = 128
# RFC 5321's forward-path limit.
EMAIL = 254
ISSUER_NAME = 200
ISSUER_WEBSITE = 300
# A question or an answer on a campaign's public Q&A (the contract's 2,000 characters).
QUESTION = 2000
# An offering's disclosure (domain.offering) and the documents filed with it.
STORY = 50_000
USE_OF_PROCEEDS = 10_000
RISKS = 20_000
TEAM = 30
TEAM_MEMBER_NAME = 100
TEAM_MEMBER_ROLE = 100
TEAM_MEMBER_BIO = 2_000
DOCUMENT_NAME = 120

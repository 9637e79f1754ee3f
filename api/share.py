"""`GET /campaigns/<id>`: the web page, with the campaign's Open Graph tags in its head.

Link previews (chat apps, social networks) read the HTML without running scripts and
never see a URL's #fragment, so a shared link is this path: the server names the
offering, its summary and its cover image; the page's script then shows the campaign.
Only campaigns anyone may see get their tags; others get the plain page.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.enums import PUBLIC_CAMPAIGN_STATUSES, CampaignStatus
from api.services import Services

PLACEHOLDER = "<!-- og -->"


def _meta(prop: str, content: str) -> str:
    return f'<meta property="{prop}" content="{escape(content, quote=True)}">'


def campaign_share_endpoint(services: Services, index: Path) -> Any:
    async def page(request: Request) -> Response:
        html = index.read_text(encoding="utf-8")
        campaign_id = str(request.path_params["id"])[:64]
        view = await services.run(services.read_models.campaign, campaign_id)
        if view is None or CampaignStatus(view.status) not in PUBLIC_CAMPAIGN_STATUSES:
            return HTMLResponse(html)
        documents = await services.run(
            services.read_models.documents_by_campaigns, [campaign_id]
        )
        images = [d for d in documents.get(campaign_id, []) if d.kind == "IMAGE"]
        base = str(request.base_url).rstrip("/")
        card = "summary_large_image" if images else "summary"
        tags = [
            f"<title>{escape(view.title)} · Crowdfund</title>",
            f'<link rel="canonical" href="{escape(base + request.url.path, quote=True)}">',
            _meta("og:type", "website"),
            _meta("og:title", view.title),
            _meta("og:description", view.summary[:300]),
            _meta("og:url", base + request.url.path),
            f'<meta name="description" content="{escape(view.summary[:300], quote=True)}">',
            f'<meta name="twitter:card" content="{card}">',
        ]
        if images:
            tags.append(_meta("og:image", f"{base}/documents/{images[-1].sha256}"))
        html = html.replace("  <title>Crowdfund</title>\n", "").replace(
            PLACEHOLDER, "\n  ".join(tags), 1
        )
        return HTMLResponse(html)

    return page

"""The status-callback URL: it carries the batch id, the recipient key and the attempt's ticket.

The provider signs the exact URL, so the call_status handler rebuilds it with the same
function from the query parameters it receives; a callback that arrives before the dialer
saved the provider's call id still finds its recipient.
"""

from __future__ import annotations

from urllib.parse import urlencode

from batchcalls.config import Settings

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


def status_callback_url(base_url: str, batch_id: str, rk: str, ticket: str) -> str:
    """``base_url`` is the API's public base: the dialer's setting, or (in the webhook) the
    base the request arrived at — both give the same string."""
    query = urlencode({"batch_id": batch_id, "rk": rk, "ticket": ticket})
    return f"{base_url.rstrip('/')}{STATUS_CALLBACK_PATH}?{query}"


def agent_twiml_url(settings: Settings, agent_id: str | None, batch_id: str, rk: str) -> str:
    base = settings.agent_twiml_url.replace("{agent_id}", agent_id or "default")
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({'batch_id': batch_id, 'rk': rk})}"

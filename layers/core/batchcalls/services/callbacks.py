"""The URLs a placed call carries: the status callback (batch id, recipient key, the attempt's
ticket) and the agent's signed TwiML URL (domain/agent_url.py).

The provider signs the exact URL, so the call_status handler rebuilds it with the same
function from the query parameters it receives; a callback that arrives before the dialer
saved the provider's call id still finds its recipient.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from batchcalls.config import Settings
from batchcalls.domain import agent_url
from batchcalls.domain.agent_url import AgentCall
from batchcalls.models.domain import Batch

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


def status_callback_url(base_url: str, batch_id: str, recipient_key: str, ticket: str) -> str:
    """``base_url`` is the API's public base: the dialer's setting, or (in the webhook) the
    base the request arrived at — both give the same string."""
    query = urlencode({"batch_id": batch_id, "rk": recipient_key, "ticket": ticket})
    return f"{base_url.rstrip('/')}{STATUS_CALLBACK_PATH}?{query}"


def agent_twiml_url(settings: Settings, secret: str, batch: Batch, recipient_key: str, now: datetime) -> str:
    """What the answered call fetches: the agent's URL, signed for the batch's account and
    agent and this recipient, good for ``agent_url_expires_seconds`` from ``now``."""
    call = AgentCall(
        account_id=batch.account_id,
        agent_id=batch.agent_id or "default",
        batch_id=batch.id,
        recipient_key=recipient_key,
        expires=int(now.timestamp()) + settings.agent_url_expires_seconds,
    )
    return agent_url.sign(settings.agent_twiml_url, call, secret)

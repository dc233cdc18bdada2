"""Pydantic models of the API's success bodies (the 200/201/202 answers), for the OpenAPI document.

They document what the handlers send today (the widget, the console and the tests read these shapes): known
fields are typed, and every object also allows fields added later (``extra="allow"``), so a client can rely on
the listed fields and ignore the rest. Free-form parts (a handoff's context package, a message's ``custom``
payload, the dialogue state) are plain JSON objects. ``RESPONSES`` maps each operation to its success status
and model; ``tests/test_schemathesis.py`` checks every fuzzed answer against them
(``response_schema_conformance``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JsonObject = dict[str, Any]


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# ---------------------------------------------------------------------------------------------- bot API
class Health(_Out):
    """``GET /health``: the process answers."""

    status: Literal["ok"]


class Ready(_Out):
    """``GET /ready``: 200 when the model, the database (and Redis, if used) work, else 503."""

    status: Literal["ready", "not ready"]
    checks: dict[str, bool] = Field(description="model, database, redis: true when working")


class Version(_Out):
    """``GET /version``."""

    version: str
    model: str | None = Field(description="the loaded model's folder")
    model_trained_at: str | None
    data_hash: str | None = Field(description="hash of the training data the model was trained on")
    encoder: JsonObject | None


class IntentScore(_Out):
    """An intent and its confidence."""

    name: str
    confidence: float = Field(ge=0, le=1)


class Entity(_Out):
    """A Rasa-style entity; card, account, phone and ID numbers come masked."""

    entity: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    value: Any
    text: str | None = None
    extractor: str | None = None


class ParseResult(_Out):
    """``POST /model/parse``: Rasa's parse result plus bankbot's fields (README, "The parse contract")."""

    text: str = Field(description="the message with sensitive numbers masked")
    intent: IntentScore
    intent_ranking: list[IntentScore]
    entities: list[Entity]
    category: Literal["consultation", "inquiry", "operation", "value_added"] | None
    categories: dict[str, float]
    language: str
    care: dict[str, float] = Field(description="elderly, distressed")
    sentiment: dict[str, float]
    multi_intent: list[Any]
    fallback: bool
    topic_category: str | None = None
    other_institution: JsonObject | None = None
    message_id: str | None = Field(default=None, description="echoed from the request")


class Button(_Out):
    """A quick reply: the title shown and the payload sent back (``/intent{...}`` or a link)."""

    title: str
    payload: str


class BotMessage(_Out):
    """One reply of ``POST /webhooks/rest/webhook`` (Rasa's REST channel shape)."""

    recipient_id: str
    text: str | None = None
    image: str | None = None
    buttons: list[Button] | None = None
    custom: JsonObject | None = Field(default=None, description="guide, handoff, survey, ticket, ... payloads")
    event_id: int | None = Field(default=None, ge=0, description="the stored message's event id")


class PolledMessage(_Out):
    """One message of ``GET /conversations/<sender>/messages`` (``?history=1`` adds the customer's own)."""

    recipient_id: str
    event_id: int = Field(ge=0)
    from_: Literal["user", "bot", "agent"] = Field(alias="from")
    text: str | None = None
    image: str | None = None
    buttons: list[Button] | None = None
    custom: JsonObject | None = None
    agent: str | None = Field(default=None, description="the agent's display name")
    message_id: str | None = Field(default=None, description="the client's id of a customer message")


class StartedConversation(_Out):
    """``POST /conversations`` (201)."""

    sender_id: str
    token: str = Field(description="the conversation token: send it as X-Conversation-Token")
    customer: bool = Field(description="true when the identity token was valid (a logged-in customer)")


class RotatedToken(_Out):
    """``POST /conversations/<sender>/token``."""

    sender_id: str
    token: str


class ConversationEvents(_Out):
    """``GET /conversations/<sender>/events`` (API token): the dialogue state and every stored event."""

    sender_id: str
    state: JsonObject
    events: list[JsonObject]


class HandoffEntry(_Out):
    """A handed-off conversation in ``GET /handoffs``."""

    sender_id: str
    status: Literal["queued", "assigned"]
    queue_position: int | None = Field(default=None, ge=0)
    agent_id: int | None = None
    reason: str | None
    context: JsonObject


class Handoffs(_Out):
    """``GET /handoffs`` (API token)."""

    handoffs: list[HandoffEntry]


# ---------------------------------------------------------------------------------------------- agents
Role = Literal["agent", "supervisor", "trainer"]
Presence = Literal["online", "away", "offline"]


class Agent(_Out):
    """An agent account (never the password hash)."""

    id: int
    username: str
    name: str
    role: Role
    skills: list[str]
    capacity: int = Field(ge=0)
    status: Presence
    last_seen: float | None


class AgentWithLoad(Agent):
    """An agent with the number of chats they hold now."""

    load: int = Field(ge=0)


class Colleague(_Out):
    """``GET /agent/agents``: someone to transfer to."""

    id: int
    name: str
    status: Presence
    load: int = Field(ge=0)
    capacity: int = Field(ge=0)
    skills: list[str]
    role: Role


class LoginResponse(_Out):
    """``POST /agent/login``: the bearer token for every other agent call."""

    token: str
    agent: Agent


class Ok(_Out):
    """Done."""

    ok: Literal[True]


class EventId(_Out):
    """The stored message's event id."""

    event_id: int = Field(ge=0)


class TicketId(_Out):
    """The new ticket."""

    ticket_id: int = Field(ge=0)


class LabelId(_Out):
    """The stored intent correction."""

    label_id: int = Field(ge=0)


class Urgency(_Out):
    """How urgent a chat is: level, its rank (0 = most urgent) and why."""

    level: str
    rank: int
    reasons: list[str]


class _ChatBase(_Out):
    """What every view of a handed-off chat has: its id, customer, state, routing and creation time."""

    id: int
    sender_id: str
    status: Literal["queued", "assigned", "closed", "returned"]
    skill: str | None
    priority: str | None
    reason: str | None
    agent_id: int | None
    created_at: float


class ChatSummary(_ChatBase):
    """A chat as listed in queues (no transcript): state, times, care flags, display name, preview."""

    queued_at: float | None
    assigned_at: float | None
    closed_at: float | None
    requeued: bool
    unread: int | None
    disposition: str | None
    note: str | None
    wait_seconds: float
    customer_name: str
    salutation: str
    urgency: Urgency
    care: JsonObject
    preview: str
    intent: str | None
    tags: list[str] | None = None


class QueuedChat(ChatSummary):
    """``GET /agent/queue``: a waiting chat with its context package."""

    context: JsonObject


class WatchedChat(ChatSummary):
    """``GET /supervisor/chats``: an open chat and the agent holding it."""

    agent_name: str | None


class ChatMessage(_Out):
    """A message of a handed-off chat, as agents see it (masked)."""

    event_id: int
    from_: Literal["customer", "bot", "agent"] = Field(alias="from")
    text: str
    ts: float
    intent: str | None = None
    confidence: float | None = None
    custom: JsonObject | None = None
    agent: str | None = None


class Chat(_ChatBase):
    """A chat with its context package and masked messages."""

    wait_seconds: float
    context: JsonObject
    customer_name: str
    salutation: str
    tags: list[str]
    urgency: Urgency
    messages: list[ChatMessage] | None = None


class Note(_Out):
    """A private note about the customer."""

    id: int
    chat_id: int
    text: str
    created_at: float
    agent: str


class Tags(_Out):
    """The chat's tags now."""

    tags: list[str]


class Ticket(_Out):
    """A follow-up ticket."""

    id: int
    chat_id: int | None
    kind: Literal["callback", "result_notice"]
    due_at: float | None
    note: str
    status: Literal["open", "done"]
    created_by: int | None
    created_at: float
    done_at: float | None
    customer_name: str
    overdue: bool


class Phrase(_Out):
    """A shared or personal canned phrase."""

    id: int
    code: str
    text: str
    shared: bool
    group: str
    lang: str


class NewPhrase(_Out):
    """``POST /agent/phrases``."""

    id: int
    code: str
    text: str
    shared: bool


class Guide(_Out):
    """A guide an agent may send."""

    guide_id: str
    title: str


class GuideMatch(Guide):
    """``GET /agent/guides/search``."""

    title_en: str


class Suggestion(Guide):
    """A guide suggested for the chat's latest request."""

    score: float


class LintIssue(_Out):
    """A phrase the service-language rule flags, with a suggestion."""

    start: int
    end: int
    phrase: str
    suggestion: str | None


class LintResult(_Out):
    """``POST /agent/lint``."""

    issues: list[LintIssue]


class PreviousChat(_Out):
    """One of the customer's earlier chats."""

    id: int
    status: str
    reason: str | None
    created_at: float
    agent: str | None
    disposition: str | None
    tags: list[str]


class SurveyAnswer(_Out):
    """A survey answer of the customer."""

    score: Any
    reason: str | None
    ts: float | None


class CustomerPanel(_Out):
    """``GET /agent/chats/<id>/customer``."""

    customer_name: str
    previous_chats: list[PreviousChat]
    surveys: list[SurveyAnswer]
    open_tickets: list[Ticket]
    card_tails: list[str] = Field(description="masked: '**** 1234'")
    notes: list[Note]
    identity_verified: bool


class Waiting(_Out):
    """Queue figures."""

    count: int = Field(ge=0)
    p50_seconds: float
    max_seconds: float


class Overview(_Out):
    """``GET /supervisor/overview``."""

    queue: list[ChatSummary]
    agents: list[AgentWithLoad]
    waiting: Waiting
    active_chats: int = Field(ge=0)


# ---------------------------------------------------------------------------------------------- trainers
class Correction(_Out):
    """An agent's intent correction and its review."""

    id: int
    event_id: int
    text: str
    predicted: str | None
    confidence: float | None
    intent: str
    agent: str | None
    created_at: float
    review: Literal["pending", "accepted", "relabeled", "rejected"]
    final_intent: str | None


class LowConfidence(_Out):
    """A customer message the model was unsure about."""

    event_id: int
    text: str
    intent: str | None
    confidence: float
    ts: float | None


class IntentTrend(_Out):
    """An intent's count this week and last week."""

    intent: str
    this_week: int
    last_week: int
    growth: int


class HotIntents(_Out):
    """``GET /trainer/intents``."""

    hot: list[IntentTrend]
    growing: list[IntentTrend]


class ReviewCase(_Out):
    """A dissatisfied case of this week."""

    chat_id: int
    customer_name: str
    score: Any
    reason: str | None
    comment: str | None
    intents: list[str]
    ts: float | None


class Job(_Out):
    """A background retrain/compare job."""

    id: int
    kind: Literal["retrain", "compare"]
    state: str
    progress: float = Field(ge=0, le=1)
    started_at: float | None
    finished_at: float | None
    log: list[str]
    model_dir: str | None
    report: JsonObject | None


# ---------------------------------------------------------------------------------------------- the map
@dataclass(frozen=True)
class Response:
    """The success answer of one operation: status, model (``None``: not JSON) and whether it is a list."""

    model: type[BaseModel] | None
    many: bool = False
    status: int = 200
    #: the media type when the answer is not JSON (pages, metrics)
    media: str = "application/json"
    #: the label lists and the report: JSON objects whose keys are data, described in words
    free_form: str | None = None


_OK = Response(Ok)
#: success answer per (method, path as routed)
RESPONSES: dict[tuple[str, str], Response] = {
    ("GET", "/health"): Response(Health),
    ("GET", "/ready"): Response(Ready),
    ("GET", "/version"): Response(Version),
    ("GET", "/metrics"): Response(None, media="text/plain"),
    ("GET", "/widget"): Response(None, media="text/html"),
    ("GET", "/console"): Response(None, media="text/html"),
    ("POST", "/model/parse"): Response(ParseResult),
    ("POST", "/webhooks/rest/webhook"): Response(BotMessage, many=True),
    ("POST", "/conversations"): Response(StartedConversation, status=201),
    ("POST", "/conversations/<sender>/token"): Response(RotatedToken),
    ("GET", "/conversations/<sender>/messages"): Response(PolledMessage, many=True),
    ("GET", "/conversations/<sender>/events"): Response(ConversationEvents),
    ("GET", "/handoffs"): Response(Handoffs),
    ("GET", "/supervisor/report"): Response(None, free_form="the report (format=json) or an HTML page"),
    ("POST", "/agent/login"): Response(LoginResponse),
    ("GET", "/agent/me"): Response(AgentWithLoad),
    ("POST", "/agent/status"): Response(Agent),
    ("POST", "/agent/logout"): _OK,
    ("GET", "/agent/chats"): Response(Chat, many=True),
    ("GET", "/agent/queue"): Response(QueuedChat, many=True),
    ("GET", "/agent/agents"): Response(Colleague, many=True),
    ("GET", "/agent/intents"): Response(None, free_form="intent names"),
    ("GET", "/agent/labels"): Response(None, free_form="display names: {list: {key: {zh, en}}}"),
    ("POST", "/agent/chats/<sid:int>/pull"): Response(Chat),
    ("POST", "/agent/chats/<sid:int>/messages"): Response(EventId),
    ("POST", "/agent/chats/<sid:int>/guide"): Response(EventId),
    ("POST", "/agent/chats/<sid:int>/read"): _OK,
    ("POST", "/agent/chats/<sid:int>/transfer"): Response(Chat),
    ("POST", "/agent/chats/<sid:int>/return"): _OK,
    ("POST", "/agent/chats/<sid:int>/close"): _OK,
    ("POST", "/agent/chats/<sid:int>/ticket"): Response(TicketId),
    ("POST", "/agent/tickets/<tid:int>/done"): _OK,
    ("GET", "/agent/tickets"): Response(Ticket, many=True),
    ("POST", "/agent/messages/<event_id:int>/label"): Response(LabelId),
    ("GET", "/agent/phrases"): Response(Phrase, many=True),
    ("POST", "/agent/phrases"): Response(NewPhrase),
    ("GET", "/agent/guides"): Response(Guide, many=True),
    ("GET", "/agent/guides/search"): Response(GuideMatch, many=True),
    ("GET", "/agent/chats/<sid:int>/suggestions"): Response(Suggestion, many=True),
    ("POST", "/agent/lint"): Response(LintResult),
    ("GET", "/agent/chats/<sid:int>/notes"): Response(Note, many=True),
    ("POST", "/agent/chats/<sid:int>/notes"): Response(Note),
    ("POST", "/agent/chats/<sid:int>/tags"): Response(Tags),
    ("DELETE", "/agent/chats/<sid:int>/tags/<tag>"): Response(Tags),
    ("GET", "/agent/chats/<sid:int>/customer"): Response(CustomerPanel),
    ("GET", "/supervisor/overview"): Response(Overview),
    ("GET", "/supervisor/chats"): Response(WatchedChat, many=True),
    ("GET", "/supervisor/chats/<sid:int>"): Response(Chat),
    ("DELETE", "/supervisor/chats/<sid:int>/watch"): _OK,
    ("POST", "/supervisor/chats/<sid:int>/assign"): Response(Chat),
    ("GET", "/trainer/corrections"): Response(Correction, many=True),
    ("POST", "/trainer/corrections/<lid:int>"): Response(Correction),
    ("POST", "/trainer/low-confidence/<event_id:int>"): Response(LabelId),
    ("GET", "/trainer/low-confidence"): Response(LowConfidence, many=True),
    ("GET", "/trainer/intents"): Response(HotIntents),
    ("GET", "/trainer/review"): Response(ReviewCase, many=True),
    ("POST", "/trainer/jobs"): Response(Job, status=202),
    ("GET", "/trainer/jobs"): Response(Job, many=True),
    ("POST", "/trainer/jobs/<jid:int>/cancel"): Response(Job),
}

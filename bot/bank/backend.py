"""``BankBackend``: what the dialogue may ask of the bank, and a demo implementation.

Plug-in point: implement :class:`BankBackend` against the bank's core-banking / card APIs and pass
it to :class:`bot.dialogue.assistant.Assistant` (``bank=``). The customer is identified by the app's
authenticated customer id, which the app sends as channel metadata (``{"customer_id": "..."}``);
the bot never asks the customer for account numbers. :class:`DemoBankBackend` keeps a few seeded
demo customers in the embedded database (SQLite by default) so the whole loop runs without a bank.
Everything returned is already masked for display (last four digits only).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Column, Float, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.pool import StaticPool


@dataclass
class Card:
    """A card as the customer may see it (number masked to the last four digits)."""

    card_id: str
    kind: str  # "debit" | "credit"
    last4: str
    status: str  # "active" | "frozen" | "lost"
    available: float
    delivery: str | None = None


@dataclass
class Transaction:
    """One recent transaction."""

    ts: float
    merchant: str
    amount: float
    card_last4: str


@dataclass
class Customer:
    """A customer found from the app's authenticated id."""

    customer_id: str
    name: str
    points: int
    bill_due: float
    bill_due_date: str
    last_transfer: str


class BankBackend(Protocol):
    """The operations the bot performs against the bank (all results masked)."""

    def customer(self, customer_id: str) -> Customer | None:
        """The customer for the app's authenticated id, or ``None``."""

    def cards(self, customer_id: str) -> list[Card]:
        """The customer's cards with their states and balances."""

    def transactions(self, customer_id: str, limit: int = 5) -> list[Transaction]:
        """Most recent transactions first."""

    def freeze_card(self, customer_id: str, card_id: str | None = None) -> Card | None:
        """Freeze one card (default: the first active one); returns it, or ``None``."""

    def unfreeze_card(self, customer_id: str, card_id: str) -> Card | None:
        """Unfreeze a frozen card."""

    def report_lost(self, customer_id: str, card_id: str | None = None) -> Card | None:
        """Report a card lost (blocks it for good; a replacement is ordered)."""


metadata = MetaData()
bank_customers = Table("bank_customers", metadata, Column("customer_id", String(64), primary_key=True),
                       Column("data", Text, nullable=False))
bank_cards = Table("bank_cards", metadata, Column("card_id", String(64), primary_key=True),
                   Column("customer_id", String(64), nullable=False), Column("data", Text, nullable=False),
                   Column("status", String(16), nullable=False), Column("updated_at", Float, nullable=False))

DEMO_CUSTOMERS = [
    (Customer("demo-1001", "张伟", 12800, 3560.20, "12-20", "已到账"),
     [Card("c1", "debit", "7890", "active", 12345.67), Card("c2", "credit", "4321", "active", 18000.00,
                                                           "已签收")]),
    (Customer("demo-1002", "Mary Chen", 5400, 820.00, "12-18", "processing"),
     [Card("c3", "debit", "5566", "active", 2300.50), Card("c4", "credit", "1188", "active", 30000.0,
                                                          "in transit")]),
    (Customer("demo-1003", "王秀英", 300, 0.0, "-", "已到账"), [Card("c5", "debit", "2468", "active", 56789.00)]),
]
DEMO_TRANSACTIONS = [("超市", -86.5), ("工资", 9000.0), ("外卖", -42.0), ("电费", -120.3), ("话费", -50.0)]


class DemoBankBackend:
    """Seeded demo customers on the embedded database (the stand-in for core banking)."""

    def __init__(self, database: str | Engine = "sqlite://") -> None:
        """Create the tables on ``database`` and seed the demo customers once."""
        if isinstance(database, str):
            memory = database in ("sqlite://", "sqlite:///:memory:")
            self.engine = create_engine(database, poolclass=StaticPool if memory else None,
                                        connect_args={"check_same_thread": False} if memory else {})
        else:
            self.engine = database
        metadata.create_all(self.engine)
        with self.engine.begin() as c:
            if c.execute(select(bank_customers.c.customer_id).limit(1)).first() is None:
                for cust, cards in DEMO_CUSTOMERS:
                    c.execute(insert(bank_customers).values(customer_id=cust.customer_id,
                                                            data=json.dumps(cust.__dict__, ensure_ascii=False)))
                    for card in cards:
                        c.execute(insert(bank_cards).values(card_id=card.card_id, customer_id=cust.customer_id,
                                                            data=json.dumps(card.__dict__, ensure_ascii=False),
                                                            status=card.status, updated_at=time.time()))

    def customer(self, customer_id: str) -> Customer | None:
        """The demo customer with this id."""
        with self.engine.connect() as c:
            row = c.execute(select(bank_customers.c.data).where(bank_customers.c.customer_id == customer_id)).first()
        return Customer(**json.loads(row[0])) if row else None

    def cards(self, customer_id: str) -> list[Card]:
        """Cards with their current state."""
        with self.engine.connect() as c:
            rows = c.execute(select(bank_cards.c.data, bank_cards.c.status)
                             .where(bank_cards.c.customer_id == customer_id).order_by(bank_cards.c.card_id)).all()
        return [Card(**{**json.loads(d), "status": s}) for d, s in rows]

    def transactions(self, customer_id: str, limit: int = 5) -> list[Transaction]:
        """Deterministic demo transactions on the first card."""
        cards = self.cards(customer_id)
        if not cards:
            return []
        day = 86400.0
        base = 1_764_000_000.0
        return [Transaction(base - i * day, m, a, cards[0].last4) for i, (m, a) in enumerate(DEMO_TRANSACTIONS)][:limit]

    def _set_status(self, customer_id: str, card_id: str | None, status: str, only_from: set[str]) -> Card | None:
        cards = [c for c in self.cards(customer_id) if c.status in only_from and (card_id in (None, c.card_id))]
        if not cards:
            return None
        card = cards[0]
        with self.engine.begin() as c:
            c.execute(update(bank_cards).where(bank_cards.c.card_id == card.card_id)
                      .values(status=status, updated_at=time.time()))
        card.status = status
        return card

    def freeze_card(self, customer_id: str, card_id: str | None = None) -> Card | None:
        """Freeze the first active card (or the one named)."""
        return self._set_status(customer_id, card_id, "frozen", {"active"})

    def unfreeze_card(self, customer_id: str, card_id: str) -> Card | None:
        """Unfreeze a frozen card."""
        return self._set_status(customer_id, card_id, "active", {"frozen"})

    def report_lost(self, customer_id: str, card_id: str | None = None) -> Card | None:
        """Report lost: active or frozen cards become ``lost``."""
        return self._set_status(customer_id, card_id, "lost", {"active", "frozen"})

"""The bank backend behind the actions: the plug-in point for a real core-banking API."""

from .backend import BankBackend, Card, Customer, DemoBankBackend, Transaction

__all__ = ["BankBackend", "Card", "Customer", "DemoBankBackend", "Transaction"]

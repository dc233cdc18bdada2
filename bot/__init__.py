"""bankbot: Chinese-first hybrid chatbot for a bank app, with human handoff."""

__version__ = "0.1.0"

"""Dialogue: conversation state, policy, responses, rasa-sdk action execution, tracker store."""

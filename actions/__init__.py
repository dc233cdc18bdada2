"""bankbot's custom actions (rasa-sdk).

They run in-process through rasa-sdk's ``ActionExecutor`` and, unchanged, as a standard action
server: ``python -m rasa_sdk --actions actions``.
"""

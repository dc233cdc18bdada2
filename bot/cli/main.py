"""Entry point of the ``bankbot`` console script."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command name -> module (each module has ``add_arguments(parser)`` and ``run(args) -> int``)
COMMANDS = {
    "train": ("bot.cli.train", "train intent, category and care heads"),
    "distill": ("bot.cli.distill", "distil a smaller, faster encoder (student) for the onnx-student backend"),
    "test": ("bot.cli.test", "evaluate a model: per-intent/category/care metrics, confusion PNGs, errors"),
    "parse": ("bot.cli.parse", "parse messages from stdin, one JSON object per line"),
    "shell": ("bot.cli.shell", "interactive parse loop"),
    "run": ("bot.cli.run", "start the bot server (trains a model first if none exists)"),
    "benchmark": ("bot.cli.benchmark", "train and score on BANKING77 / CLINC150 / Rasa data"),
    "report": ("bot.cli.report", "service metrics from the event store (text, JSON, HTML, PNG charts)"),
    "review": ("bot.cli.review", "dissatisfied conversations of a week, grouped for the retrospective"),
    "agents": ("bot.cli.agents", "list, add and configure agents of the human side"),
    "db": ("bot.cli.db", "database schema migrations (upgrade, current)"),
}
DATA_COMMANDS = {
    "validate": ("bot.cli.data_validate", "check training data and responses"),
    "export-corrections": ("bot.cli.data_export", "agents' corrections + uncertain handed-off messages as NLU YAML"),
    "merge": ("bot.cli.data_merge", "add reviewed examples to the training data"),
}


def _add(sub: argparse._SubParsersAction, name: str, module: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    mod = importlib.import_module(module)
    mod.add_arguments(parser)
    parser.set_defaults(_module=module)
    parser.add_argument("--config", help="settings file (default: bankbot.toml or $BANKBOT_CONFIG)")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(prog="bankbot", description="bankbot: bank-app chatbot with human handoff")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        _add(sub, name, module, help_text)
    data = sub.add_parser("data", help="training-data tools")
    dsub = data.add_subparsers(dest="data_command", required=True)
    for name, (module, help_text) in DATA_COMMANDS.items():
        _add(dsub, name, module, help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; returns the exit status."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - top-level: print a clear message, not a traceback
        if os.environ.get("BANKBOT_DEBUG"):
            raise
        print(f"bankbot: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""``bankbot shell``: type messages, see the parse result (intent, category, entities, care)."""

from __future__ import annotations

import argparse
import json

from ..config import load_settings
from ..nlu.pipeline import NLUPipeline, ParseInputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot shell``."""
    p.add_argument("--model", help="model directory or name (default: latest)")
    p.add_argument("--full", action="store_true", help="print the whole JSON result")


def run(args: argparse.Namespace) -> int:
    """Loop until EOF or /quit."""
    pipe = NLUPipeline.from_settings(load_settings(args.config, model=args.model))
    print(f"model: {pipe.model_path}. Type a message (Ctrl-D or /quit to leave).")
    while True:
        try:
            text = input("> ")
        except EOFError:
            print()
            return 0
        if text.strip() in {"/quit", "/exit"}:
            return 0
        try:
            r = pipe.parse(text)
        except ParseInputError as exc:
            print(f"  ! {exc}")
            continue
        if args.full:
            print(json.dumps(r, ensure_ascii=False, indent=2))
            continue
        print(f"  intent   {r['intent']['name']} ({r['intent']['confidence']:.2f})  category {r['category']}  "
              f"language {r['language']}")
        alt = ", ".join(f"{x['name']} {x['confidence']:.2f}" for x in r["intent_ranking"][1:4])
        print(f"  next     {alt}")
        if r["entities"]:
            print("  entities " + ", ".join(f"{e['entity']}={e['value']}" for e in r["entities"]))
        if r["multi_intent"]:
            print("  multi    " + ", ".join(f"{m['name']} [{m['text']}]" for m in r["multi_intent"]))
        print(f"  care     elderly {r['care']['elderly']:.2f}  distressed {r['care']['distressed']:.2f}")

"""``python -m bot`` = ``bankbot``."""

import sys

from bot.cli.main import main

sys.exit(main())

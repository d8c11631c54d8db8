"""Entry point for ``python -m devhost``."""

from .cli import main

raise SystemExit(main())

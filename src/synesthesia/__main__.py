"""``python -m synesthesia``: the same command as ``synesthesia``."""

from synesthesia.cli import main

raise SystemExit(main())

import sys

from synesthesia.cli import main

sys.exit(main())

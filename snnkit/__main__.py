import sys

from snnkit.cli import main

sys.exit(main())

import sys

from cthulhu.cli import main

sys.exit(main())

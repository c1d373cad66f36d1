import sys

from kzoo.cli import main

sys.exit(main())

import sys

from authlens.cli import main

sys.exit(main())

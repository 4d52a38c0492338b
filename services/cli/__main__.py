"""``python -m services.cli``: the ``newsflow`` command (services/cli/main.py), for where the script is not
installed (the container image). Nothing else here."""

import sys

from services.cli.main import main

sys.exit(main())

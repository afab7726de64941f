"""``python -m arcade_p2p`` runs the ``arcade-p2p`` command."""

import sys

from arcade_p2p.cli import main

sys.exit(main())

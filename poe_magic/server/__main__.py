import sys

from poe_magic.server.run import main

sys.exit(main())

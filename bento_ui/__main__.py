import sys

from bento_ui.cli import main

sys.exit(main())

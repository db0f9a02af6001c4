import sys

from batchcalls.admin.cli import main

sys.exit(main())

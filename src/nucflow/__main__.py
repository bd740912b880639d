import sys

from nucflow.cli import main

sys.exit(main())

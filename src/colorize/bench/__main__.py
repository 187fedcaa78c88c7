import sys

from colorize.bench.run import main

sys.exit(main())

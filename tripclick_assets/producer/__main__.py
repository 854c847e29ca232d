import sys

from tripclick_assets.producer.cli import main

sys.exit(main())

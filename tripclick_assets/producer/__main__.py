import sys

from tripclick_assets.producer.cli import main

if __name__ == "__main__":  # the spawned producer processes import this module too
    sys.exit(main())

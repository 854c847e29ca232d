import sys

from tripclick_assets.producer.cli import main

if __name__ == "__main__":  # the encoder pool's spawned workers import this module too
    sys.exit(main())

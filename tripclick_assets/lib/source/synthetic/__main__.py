"""Entry point of ``python -m tripclick_assets.lib.source.synthetic``."""

from tripclick_assets.lib.source.synthetic.cli import main

raise SystemExit(main())

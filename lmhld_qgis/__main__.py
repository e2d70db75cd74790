"""`python -m lmhld_qgis ...` is the `lmhld` command (and what `torchrun -m lmhld_qgis train` runs).

A child started by the plugin finds the plugin's own package folder in LMHLD_DEPS_DIR: it is appended to the path
before anything else is imported."""

from .deps import activate_from_env

activate_from_env()

from .console import main  # noqa: E402  (after the path is complete)

raise SystemExit(main())

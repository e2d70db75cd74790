"""`python -m lmhld_qgis ...` is the `lmhld` command (and what `torchrun -m lmhld_qgis train` runs)."""

from .cli import main

raise SystemExit(main())

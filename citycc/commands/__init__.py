"""The ``citycc`` subcommands beyond the core ones in :mod:`citycc.cli`, one family per
module; each module's ``add_parsers``/``add_*`` hook adds its parsers."""

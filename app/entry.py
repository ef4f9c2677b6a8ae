"""The `swarmdeck` console script: the CLI's ``main``, with the cyclic collector held while the CLI's
modules load (every object they make is new, so each collection would walk them all for nothing:
about 4 ms of a claim). The CLI turns the collector back on before any command runs (``cli``), and
holds it again only while the store opens (``_base.run``)."""

import gc

if gc.isenabled():
    gc.disable()
    from swarmdeck.app import cli as _cli

    _cli._collector_held = True  # cli() turns it back on, and so does main() if it never runs
else:
    from swarmdeck.app import cli as _cli


def main() -> None:
    _cli.main()

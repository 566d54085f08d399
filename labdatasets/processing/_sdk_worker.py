"""A worker process of the DirectRunner's multi-processing mode, started without noise.

Beam's own entry point (``python -m apache_beam.runners.worker.sdk_worker_main``)
imports modules that log a warning on import (``apitools not found``); with no
handler on the root logger, ``logging.warning`` installs one that writes to stderr,
and every later record of the worker goes to the user's terminal as well. A
``NullHandler`` on the root logger prevents that: the worker's records still reach
the submitting process through the logging channel Beam sets up once the worker
runs, where they are shown or hidden like those of an in-process build.
"""

from __future__ import annotations

import logging
import sys


def main() -> None:
    logging.getLogger().addHandler(logging.NullHandler())
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()

"""`python -m worker worker|scheduler|cron`: what `ivr worker`, `ivr scheduler` and `ivr cron`
become. The `ivr` command hands over to this module rather than importing the worker, so
the web side never loads it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from worker.process import run_cron, run_scheduler, run_worker


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker")
    parser.add_argument("process", choices=("worker", "scheduler", "cron"))
    parser.add_argument("--with-scheduler", action="store_true")
    options = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if options.process == "worker":
        run_worker(with_scheduler=options.with_scheduler)
    elif options.process == "scheduler":
        run_scheduler()
    else:
        run_cron()
    return 0


if __name__ == "__main__":
    sys.exit(main())

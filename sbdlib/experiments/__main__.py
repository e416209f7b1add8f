"""``python -m sbdlib.experiments ...``: train, evaluate and write an experiment
(:mod:`sbdlib.experiments.cli`).
"""

from sbdlib.experiments.cli import main

main()

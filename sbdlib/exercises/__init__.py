"""Checkers of the course's exercises: ``check_<name>(your_function)`` after each exercise.

A checker runs your function on random and edge cases against the library's own version and
prints one line, "correct: ...", or raises ``AssertionError`` naming the likely mistake. While
your function still raises ``NotImplementedError`` it prints "not attempted yet" and returns,
so every notebook runs top to bottom before you solve anything. One module per notebook.
"""

from sbdlib.exercises._checking import mine_or_library
from sbdlib.exercises.datasets import *  # noqa: F401,F403  notebook 01
from sbdlib.exercises.broadcast import *  # noqa: F401,F403  notebook 02
from sbdlib.exercises.training import *  # noqa: F401,F403  notebook 03
from sbdlib.exercises.traversals import *  # noqa: F401,F403  notebook 04
from sbdlib.exercises.geometry import *  # noqa: F401,F403  notebook 05
from sbdlib.exercises.mig import *  # noqa: F401,F403  notebook 06
from sbdlib.exercises.objects import *  # noqa: F401,F403  notebook 13
from sbdlib.exercises import broadcast, datasets, geometry, mig, objects, training, traversals

__all__ = ["mine_or_library"] + [name for module in (datasets, broadcast, training, traversals, geometry, mig, objects)
                                 for name in module.__all__]

"""Checkers of the course's exercises: ``check_<name>(your_function)`` after each exercise.

A checker runs your function on random and edge cases against the library's own version and
prints one line, "correct: ...", or raises ``AssertionError`` naming the likely mistake. While
your function still raises ``NotImplementedError`` it prints "not attempted yet" and returns,
so every notebook runs top to bottom before you solve anything. One module per notebook.
"""

from sbdlib.course.exercises._checking import mine_or_library
from sbdlib.course.exercises.datasets import *  # noqa: F401,F403  notebook 01
from sbdlib.course.exercises.broadcast import *  # noqa: F401,F403  notebook 02
from sbdlib.course.exercises.training import *  # noqa: F401,F403  notebook 03
from sbdlib.course.exercises.traversals import *  # noqa: F401,F403  notebook 04
from sbdlib.course.exercises.geometry import *  # noqa: F401,F403  notebook 05
from sbdlib.course.exercises.mig import *  # noqa: F401,F403  notebook 06
from sbdlib.course.exercises.beta_sweep import *  # noqa: F401,F403  notebook 07
from sbdlib.course.exercises.small_objects import *  # noqa: F401,F403  notebook 08
from sbdlib.course.exercises.coordinates import *  # noqa: F401,F403  notebook 09
from sbdlib.course.exercises.ablations import *  # noqa: F401,F403  notebook 10
from sbdlib.course.exercises.generalisation import *  # noqa: F401,F403  notebook 11
from sbdlib.course.exercises.factorvae import *  # noqa: F401,F403  notebook 12
from sbdlib.course.exercises.objects import *  # noqa: F401,F403  notebook 13
from sbdlib.course.exercises import (ablations, beta_sweep, broadcast, coordinates, datasets, factorvae,
                                     generalisation, geometry, mig, objects, small_objects, training, traversals)

__all__ = ["mine_or_library"] + [name for module in (datasets, broadcast, training, traversals, geometry, mig, beta_sweep,
                                                     small_objects, coordinates, ablations, generalisation, factorvae,
                                                     objects)
                                 for name in module.__all__]

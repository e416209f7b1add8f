"""The course's own tooling: the exercises' checkers (:mod:`sbdlib.course.exercises`), the Colab setup
cell and badges (:mod:`sbdlib.course.colab`) and the form notebooks are saved in
(:mod:`sbdlib.course.notebook_format`)."""

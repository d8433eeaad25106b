"""Standard-only algorithms: assignment, update, initialisation and the Lloyd loops.

Everything here works on arrays of the namespace ``xp`` it is handed and asks
:mod:`xpcluster._backends` for the few operations the Array API standard lacks.
"""

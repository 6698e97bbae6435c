"""GNoME discovery: graph networks, candidate generation, evaluation and discovery rounds.

May import ``materials`` and ``hullapi``.
"""

"""Thermodynamics: the pure hull engine and the stability of stored and hypothetical entries.

May import ``materials``; imported by ``discovery`` and ``frontend``.
"""

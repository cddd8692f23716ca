"""Maintainer scripts that regenerate shoal's shipped data files; not imported at run time.

They and their inputs are in the source distribution and the repository, not in the wheel.
"""

"""Maintainer scripts that regenerate shoal's shipped data files; not imported at run time."""

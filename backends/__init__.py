"""Backends of nst, each a subpackage that exposes ``BACKEND``; see ``nst.backend``."""

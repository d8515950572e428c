"""The JAX/Flax backend."""

from nst.backends.jax.backend import JaxBackend

BACKEND = JaxBackend()

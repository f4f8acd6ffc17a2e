"""Built-in environments. Importing this package registers nothing; see ``rlenvs.registration``."""

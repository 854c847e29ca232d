"""Field validators that wait for EnvVar values.

At load time Dagster hands a validator the ``dg.EnvVar`` itself (the variable's name); the
value only exists at run time, when the resource is rebuilt with it and validated again.
"""

import functools

import dagster as dg


def unless_env_var(check):
    """Skip ``check`` for an unresolved ``dg.EnvVar``; validate every real value."""

    @functools.wraps(check)
    def wrapper(cls, value):
        if isinstance(value, dg.EnvVar):
            return value
        return check(cls, value)

    return wrapper

"""A user's own policy, loaded by the same registry as ours (``get_policy``).

Two ways to name one, neither needing a fork of juggler:

- a spec ``package.module:name``: ``name`` is a :class:`~juggler.policy.base.Policy`
  object in that importable module (``--policy mypolicies.halfway:policy``);
- an entry point in the :data:`ENTRY_POINT_GROUP` group of an installed package,
  whose name is then a policy name like ours (``--policy halfway``)::

      [project.entry-points."juggler.policies"]
      halfway = "mypolicies.halfway:policy"

The spec is only a string, so it crosses process boundaries as it is: ``compare``'s
workers (subprocesses or Dask workers) load it again by name, which works wherever
the module is importable (installed there, or on their ``PYTHONPATH``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from functools import cache

from juggler.errors import PolicyError
from juggler.policy.base import Policy

#: the entry-point group installed packages register their policies in
ENTRY_POINT_GROUP = "juggler.policies"


def is_spec(name: str) -> bool:
    """True when ``name`` has the form ``package.module:attribute``."""
    module, sep, attribute = name.partition(":")
    return bool(sep and module and attribute)


@cache
def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def entry_point_names() -> list[str]:
    """The policy names installed packages register (read once per process)."""
    return sorted(_entry_points())


def load_plugin(name: str) -> Policy:
    """Load the policy a spec or an entry-point name stands for.

    :param name: ``package.module:attribute``, or an entry point's name.
    :raise PolicyError: When the module cannot be imported, has no such attribute,
        or the attribute is not a :class:`Policy`; the message names the spec.
    """
    entry = _entry_points().get(name)
    spec = entry.value if entry is not None else name
    where = f"policy {name!r}" + (f" (entry point {spec!r})" if entry is not None else "")
    if not is_spec(spec):
        raise PolicyError(f"{where}: write it as package.module:name")
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise PolicyError(
            f"{where}: no module {module_name!r} ({err}); it must be importable: "
            "installed, or on PYTHONPATH (on every worker, for compare with Dask)"
        ) from None
    except Exception as err:  # a user's module may raise anything on import
        raise PolicyError(
            f"{where}: importing {module_name!r} failed: {type(err).__name__}: {err}"
        ) from err
    try:
        policy = getattr(module, attribute)
    except AttributeError:
        raise PolicyError(
            f"{where}: module {module_name!r} has no attribute {attribute!r}"
        ) from None
    if not isinstance(policy, Policy):
        raise PolicyError(
            f"{where}: {module_name}.{attribute} is a {type(policy).__name__}, not a "
            "juggler.policy.base.Policy (build one: Policy(name, Params, decide, summary))"
        )
    return policy

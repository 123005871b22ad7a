"""The policies, by name. Adding one is one module and one line here.

A user's own policy needs no line here: :func:`get_policy` also takes a spec
``package.module:name`` naming a :class:`Policy` object, or the name of an entry
point in the ``juggler.policies`` group (``policy/plugins.py``; docs/policies.md).
"""

from __future__ import annotations

from juggler.errors import PolicyError
from juggler.policy import freemem, juggler, mom, mom_vdsm, oracle, proxmox, squeezed, static
from juggler.policy.base import Policy, PolicyState
from juggler.policy.plugins import ENTRY_POINT_GROUP, entry_point_names, is_spec, load_plugin

#: MOM's policy engine wakes every 10 s (oVirt/mom ``doc/mom-balloon.conf``,
#: ``policy-engine-interval``); vdsm's MOM every 15 s (oVirt/vdsm
#: ``static/etc/vdsm/mom.conf.in``); Proxmox's pvestatd every 10 s
#: (``PVE/Service/pvestatd.pm``, ``$updatetime``); squeezed checks every 10 s and
#: iterates every second during a balancing (``policy/squeezed.py``)
POLICIES: dict[str, Policy] = {
    "freemem": Policy("freemem", freemem.Params, freemem.decide, "keep host free memory at 6-8%"),
    "juggler": Policy(
        "juggler",
        juggler.Params,
        juggler.decide,
        "shares with an idle memory tax (min-funding revocation), by host free memory",
        juggler.State,
    ),
    "mom": Policy(
        "mom",
        mom.Params,
        mom.decide,
        "oVirt MOM balloon.rules: host free < 20%: shrink 5% a step",
        mom.State,
        native_interval_s=10.0,
        guard_extras=False,
    ),
    "mom-vdsm": Policy(
        "mom-vdsm",
        mom_vdsm.Params,
        mom_vdsm.decide,
        "oVirt vdsm's MOM policy: grow to host-free-scaled free memory, raise to the minimum",
        mom_vdsm.State,
        native_interval_s=15.0,
        guard_extras=False,
    ),
    "oracle": Policy(
        "oracle",
        oracle.Params,
        oracle.decide,
        "evaluation bound (simulator only): each VM sized to what it is about to need",
        needs_truth=True,
    ),
    "proxmox": Policy(
        "proxmox",
        proxmox.Params,
        proxmox.decide,
        "Proxmox AutoBalloon: host use to 80%, by shares",
        native_interval_s=10.0,
        guard_extras=False,
    ),
    "squeezed": Policy(
        "squeezed",
        squeezed.Params,
        squeezed.decide,
        "Xen squeezed: same fraction γ for every VM",
        squeezed.State,
        native_interval_s=10.0,
        busy_interval_s=1.0,
        guard_extras=False,
    ),
    "static": Policy(
        "static", static.Params, static.decide, "never balloon; the host swaps", guard_extras=False
    ),
}


def get_policy(name: str) -> Policy:
    """The policy called ``name``: one of ours, an installed plug-in, or a spec.

    :param name: a registered name (``juggler``), the name of an entry point in the
        ``juggler.policies`` group, or ``package.module:attribute``.
    :raise PolicyError: When there is none, listing the ones there are, or when a
        spec's module or attribute is missing or not a :class:`Policy`.
    """
    if name in POLICIES:
        return POLICIES[name]
    if is_spec(name) or name in entry_point_names():
        return load_plugin(name)
    raise PolicyError(f"unknown policy {name!r} (choose one of: {', '.join(policy_names())})")


def is_known_policy(name: str) -> bool:
    """True when :func:`get_policy` would look ``name`` up rather than refuse it as unknown
    (a spec may still fail to load: :func:`get_policy` says why)."""
    return name in POLICIES or is_spec(name) or name in entry_point_names()


def policy_names() -> list[str]:
    """Our policies and the installed plug-ins' entry points, sorted."""
    return sorted({*POLICIES, *entry_point_names()})


__all__ = [
    "ENTRY_POINT_GROUP",
    "POLICIES",
    "Policy",
    "PolicyState",
    "get_policy",
    "is_known_policy",
    "policy_names",
]

"""The policies, by name. Adding one is one module and one line here."""

from __future__ import annotations

from juggler.errors import PolicyError
from juggler.policy import freemem, juggler, mom, proxmox, squeezed, static
from juggler.policy.base import Policy, PolicyState

POLICIES: dict[str, Policy] = {
    "freemem": Policy("freemem", freemem.Params, freemem.decide, "keep host free memory at 6-8%"),
    "juggler": Policy(
        "juggler",
        juggler.Params,
        juggler.decide,
        "shares with an idle memory tax (min-funding revocation), by host free memory",
    ),
    "mom": Policy(
        "mom", mom.Params, mom.decide, "oVirt MOM balloon.rules: host free < 20%: shrink 5% a step"
    ),
    "proxmox": Policy(
        "proxmox", proxmox.Params, proxmox.decide, "Proxmox AutoBalloon: host use to 80%, by shares"
    ),
    "squeezed": Policy(
        "squeezed", squeezed.Params, squeezed.decide, "Xen squeezed: same fraction γ for every VM"
    ),
    "static": Policy("static", static.Params, static.decide, "never balloon; the host swaps"),
}


def get_policy(name: str) -> Policy:
    """The policy called ``name``.

    :raise PolicyError: When there is none, listing the ones there are.
    """
    try:
        return POLICIES[name]
    except KeyError:
        raise PolicyError(
            f"unknown policy {name!r} (choose one of: {', '.join(sorted(POLICIES))})"
        ) from None


__all__ = ["POLICIES", "Policy", "PolicyState", "get_policy"]

"""Options for the children of a target's component (``coachdb:<target>:Database``).

Why: stacks created before the components existed declared every resource at
the top level of the stack. Moving a resource under a parent changes its URN,
and Pulumi treats a new URN as a new resource (delete + create: for the data
volume or the Railway service, a new, empty database). An alias naming the same
resource with the stack as parent is exactly the old URN, so the engine adopts
the existing resource in place (Pulumi docs: "Aliases", ``Alias(parent=...)``).
"""

from __future__ import annotations

import pulumi


def child_opts(
    parent: pulumi.Resource, *more: pulumi.ResourceOptions | None
) -> pulumi.ResourceOptions:
    """``parent`` plus an alias to the pre-component (top-level) URN, merged with ``more``."""
    opts = pulumi.ResourceOptions(
        parent=parent, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]
    )
    for extra in more:
        opts = pulumi.ResourceOptions.merge(opts, extra)
    return opts

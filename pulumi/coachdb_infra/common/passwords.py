"""Role passwords for every target: configured secrets win, else pulumi-random.

One function serves the Docker and the Railway targets so both treat
passwords alike: a value from ``pulumi config set --secret`` is used as is,
otherwise a 32-character alphanumeric password (URL- and shell-safe, ~190 bits)
is generated; bumping ``coachdb:passwordRotation`` replaces every generated one.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

from coachdb_infra.common.config import PASSWORD_KEYS, Settings


def role_passwords(
    settings: Settings, name_prefix: str = "", opts: pulumi.ResourceOptions | None = None
) -> dict[str, pulumi.Output[str]]:
    """role -> secret password; ``name_prefix`` keeps resource names unique per target.

    ``opts`` carries the target component (parent and alias) to each generated password.
    """
    result: dict[str, pulumi.Output[str]] = {}
    for key, role in PASSWORD_KEYS.items():
        if key == "readonlyPassword" and not settings.readonly_role:
            continue
        configured = settings.passwords.get(key)
        if configured is not None:
            result[role] = pulumi.Output.secret(configured)
            continue
        generated = random.RandomPassword(
            f"{name_prefix}{role}-password",
            length=32,
            special=False,
            keepers={"rotation": settings.password_rotation},
            opts=opts,
        )
        result[role] = pulumi.Output.secret(generated.result)
    return result

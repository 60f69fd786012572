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
        result[role] = generated_password(f"{name_prefix}{role}", settings, opts)
    return result


def generated_password(
    name: str, settings: Settings, opts: pulumi.ResourceOptions | None
) -> pulumi.Output[str]:
    """One role's generated password (resource ``<name>-password``), a secret renewed with
    coachdb:passwordRotation: the one recipe for the role model's, the exporter's and the
    upgrade role's passwords."""
    generated = random.RandomPassword(
        f"{name}-password",
        length=32,
        special=False,
        keepers={"rotation": settings.password_rotation},
        opts=opts,
    )
    return pulumi.Output.secret(generated.result)

"""Model families: each one unit (`Family`) registered here, consulted by presets, runs, export and the CLI.

The built-in families are `vae`, `critic_vae`, `gan` and `diffusion`; `register` adds one defined anywhere
(docs/models.md, "Adding a family").
"""

from kzoo.families import critic_vae, diffusion, gan, vae  # noqa: E402
from kzoo.families.base import Family, all_families, get, load_plugins, names, of_model, register, unregister

for _module in (vae, critic_vae, gan, diffusion):
    register(_module.FAMILY, replace=True)

__all__ = ["Family", "all_families", "get", "load_plugins", "names", "of_model", "register", "unregister"]

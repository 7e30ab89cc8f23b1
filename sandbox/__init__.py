"""Local stand-ins for the outside services, fed by a synthetic world.

- ``sandbox.world``: ``generate(out_dir, contacts, events_per_contact, seed)``, the synthetic world
- ``sandbox.app``: ``create_app(world_dir, state_dir, faults)``, HubSpot + Graph API + /_sandbox
- ``sandbox.server``: ``serve(...)`` in the foreground, ``start_background(...)`` for tests and demos
- ``sandbox.config``: ``FaultConfig`` (fault injection) and ``SandboxConfig`` (the platforms' limits)
- ``sandbox.communes``: the French communes table (``data/communes.csv``)

Never imported by ``dags/`` or the ``audience`` package at run time.
"""

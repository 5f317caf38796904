"""DNS-level verification: what servers answer, compared with git (issue 6 parts 3 and 4).

- ``published``: after an apply, and for ``reconciler verify``, ask the authoritative server (or a
  given resolver) for each record set and compare with the desired value.
- ``mail``: the mail DNS health checks of ``reconciler verify --mail DOMAIN`` (the checks themselves
  live in reconciler/desired/mailhealth.py and also run offline against desired/).
- ``command``: the ``reconciler verify`` subcommand.
"""

"""Entry point of the coachdb Pulumi program (see coachdb_infra/program.py).

``coachdb_infra`` is an installed package (pulumi/pyproject.toml, installed
editable into ../.venv by ``make venv``), so the language host imports it from
the virtualenv whatever its working directory.
"""

from coachdb_infra.program import main

main()

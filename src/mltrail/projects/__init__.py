"""Projects: reproducible runs of an MLproject, in environments built once.

``mltrail.projects.run(uri, entry_point, parameters=...)`` runs an entry point of a project (a
folder or a git URL) as a tracked run and returns a ``SubmittedRun``; ``mltrail run`` is its
command line. See docs/projects.md.
"""

from __future__ import annotations

from mltrail.projects.run import SubmittedRun, run

__all__ = ["SubmittedRun", "run"]

"""The ``mltrail`` command line: experiments, runs, artifacts, database upgrades and gc."""

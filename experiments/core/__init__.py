"""What every stage shares: settings, command-line helpers, files, run environment, points and
the prepared-data format. Imports nothing else from :mod:`experiments`."""

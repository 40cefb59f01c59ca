"""The holiday calendar the operator owns (SPEC §7): official rest days and make-up
working days in ``calendar_days``, loaded each year from the State Council's notice.

Modules: ``package`` (the arrangement the ``chinese-calendar`` package carries,
loaded at migration), ``store`` (the table as a cached ``WorkingCalendar``),
``notice`` (reading and checking a CSV file), ``service`` (loading it and
showing a year, shared by the CLI and the API), ``router``
(``/api/v1/calendar``), ``cli`` (``exchange-hub calendar``).
"""

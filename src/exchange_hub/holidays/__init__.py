"""The holiday calendar the operator owns (SPEC §7): official rest days and make-up
working days in ``calendar_days``, loaded each year from the State Council's notice.

Modules: ``package`` (the arrangement the ``chinese-calendar`` package carries,
loaded at migration), ``notice`` (reading and checking a CSV file), ``service``
(loading it, which recomputes the deadlines that rest on it, and showing a year,
shared by the CLI and the API), ``router`` (``/api/v1/calendar``), ``cli``
(``exchange-hub calendar``).

The table as a cached ``WorkingCalendar`` is ``exchange_hub.workdays_store``,
below this package: the domains that compute deadlines (exchange, reports,
metrics) read it there, and this package imports them to recompute after a load.
"""

"""Department monthly reports (部门信息月报): submission, reporting pairs, figures, reminders.

Modules: ``catalogue`` (report types, TOML), ``periods`` (months, deadlines),
``pairs`` (who owes reports), ``service`` (submission, reading, admin views),
``rates`` (expected / received / on time / zero; ``report_rates`` for the
bulletin; counted items for the scorecard), ``repository`` (queries).
"""

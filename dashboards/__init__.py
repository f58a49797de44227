"""Grafana dashboards as code, generated from the KPI definitions the cockpit uses.

An I/O-side package like ``cockpit_api/``: it turns the definitions of
:mod:`dispatch.kpi_defs` (cases, timestamps, intervals, the China 120 and NFPA 1710
standards), :mod:`cockpit_api.sensor_health` and :mod:`cockpit_api.layers` into ClickHouse
SQL (:mod:`.cases_sql`, :mod:`.kpi_sql`, :mod:`.ops_sql`) with the ClickHouse plugin's time
macros (:mod:`.macros`), into panels with their words (:mod:`.panels`), into dashboard JSON
with the Grafana Foundation SDK (:mod:`.build`), into file provisioning (:mod:`.provision`)
and into Grafana's HTTP API with grafana-client (:mod:`.sync`). It never connects to
ClickHouse itself (Grafana does); it is not part of ``warehouse/`` because it speaks HTTP to
Grafana, and not a logic package because it does I/O.
"""

"""Alert lifecycle, routing, grouping, inhibition, silences, escalation and incidents.

Pure logic, no I/O (see the alerting issue). The foundation publishes detector alerts
straight from the stream agents; this package takes them over.
"""

"""Alert lifecycle, routing, grouping, inhibition, silences, escalation and incidents.

Pure logic, no I/O (see the alerting issue). The foundation publishes detector alerts
straight from the stream agents; this package takes them over.
"""

from citycc.native import enable as _enable_native

_enable_native()   # the compiled modules, if built from these sources (citycc.native)

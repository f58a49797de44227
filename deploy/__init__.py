"""Start, stop and check the project-local services (Apache Kafka broker, ClickHouse server).

Entry points use :mod:`deploy.infra`: ``up``, ``down``, ``status`` and ``running``.
"""

from deploy.procs import DeployError

__all__ = ["DeployError"]

"""One trial: audio sources → log-mel feature cache → model → training → metric.

Nothing here knows about studies, storage or the service's CLI; the service calls the objective.
"""

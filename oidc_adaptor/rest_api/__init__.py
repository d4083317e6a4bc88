"""The public REST API of the retired AWS solution, at the same paths with fixed semantics
(``/assign_queue_num``, ``/queue_num``, ``/serving_num``, ``/waiting_num``, ...).

May import :mod:`core`, :mod:`oidc_adaptor.plumbing` and :mod:`oidc_adaptor.background`.
"""

from . import draw  # noqa: F401  (registers GET /events/<id>/draw on the blueprint)
from .views import blueprint

__all__ = ["blueprint"]

"""Work a server does besides answering requests: the admission scheduler's ticks and the
queued entry of ``POST /assign_queue_num`` (the request side; the consumer is a Lambda handler).

May import :mod:`core`, Flask and :mod:`oidc_adaptor.plumbing`; never a surface or an entry point.
"""

"""django-prometheus's request metrics, robust to what clients send."""

from __future__ import annotations

from django_prometheus import middleware


class PrometheusAfterMiddleware(middleware.PrometheusAfterMiddleware):
    """django-prometheus reads `int(Content-Length)` to size the request: a length that is not digits
    (a client's garbage) would make every such request a 500. Such a length is no length at all
    (the upload views treat it as unknown), so it is dropped before the metrics read it."""

    def process_request(self, request):
        declared = request.META.get("CONTENT_LENGTH")
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            del request.META["CONTENT_LENGTH"]
            request.__dict__.pop("headers", None)  # a cached view of META
        return super().process_request(request)

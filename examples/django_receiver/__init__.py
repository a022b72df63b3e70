"""A Django view that receives delivery reports through notifier's receiver.

``reports.py`` contains everything that does not need Django: building the
receiver and turning a request into a call of ``DeliveryReportReceiver.handle``.
``views.py`` and ``urls.py`` are the Django side. Copy the package into your
project and include its URLs::

    urlpatterns = [path("", include("django_receiver.urls"))]
"""

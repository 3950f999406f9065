"""The REST API router. Each app contributes its viewsets through `<app>.api.register(router)`."""

from importlib import import_module

from rest_framework.routers import DefaultRouter

router = DefaultRouter()
for app in ("governance", "inventory", "approvals", "connectors", "workload"):
    module = import_module(f"{app}.api")
    if hasattr(module, "register"):
        module.register(router)

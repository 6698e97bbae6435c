"""Who may do what through the APIs: everyone reads; only staff write. The project's default permission, so a
view that forgets to say is safe; a view open to anonymous POSTs (a read-only computation) says so itself."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission


class ReadOnlyOrStaff(BasePermission):
    message = "this needs a staff account (the public APIs are read-only)"

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)


class StaffOnly(BasePermission):
    """Staff only, reads included (uploads, relaxation jobs); a view names what it guards in ``message``."""

    message = "this needs a staff account"

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_staff)

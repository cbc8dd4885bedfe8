"""Access errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized


class AdminLoginFailed(Unauthorized):
    code = "invalid_credentials"
    title = "Wrong email, password or authenticator code"
    keep_changes = True  # the attempt counts against the rate limit


class AdminNotFound(NotFound):
    code = "admin_not_found"
    title = "No such admin"


class RoleNotFound(NotFound):
    code = "role_not_found"
    title = "No such role"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    title = "No such API key"


class UnknownPermission(InvalidInput):
    code = "unknown_permission"
    title = "No such permission"


class AlreadyExists(Conflict):
    code = "already_exists"
    title = "Already exists"


class SettingNotFound(NotFound):
    code = "setting_not_found"
    title = "No such setting"


class InvalidSettingValue(InvalidInput):
    code = "invalid_setting_value"
    title = "The value does not fit the setting's type"


class CannotGrant(Forbidden):
    code = "cannot_grant"
    title = "Nobody can grant a permission they do not hold"
    keep_changes = True  # the denied attempt stays in the audit log


class BuiltinRole(Forbidden):
    code = "builtin_role"
    title = "Built-in roles cannot change"
    keep_changes = True  # the denied attempt stays in the audit log

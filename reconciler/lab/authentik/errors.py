"""Exact error texts and bodies Authentik answers with (authentik-observed.md unless noted).

Handlers raise ``ApiError`` with a status and a ready body; the server turns it into a response with
Authentik's headers. Keeping every text here means a test can compare byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

# authentik-observed.md §11 / authentik-api.md §2.1
NOT_PROVIDED = "Authentication credentials were not provided."
TOKEN_INVALID = "Token invalid/expired"  # noqa: S105 - an error text, not a secret
UNSUPPORTED_AUTH = "Unsupported authentication type"
NO_PERMISSION = "You do not have permission to perform this action."

# authentik-observed.md §4, §9, §10 / authentik-api.md §2.2
USER_NOT_FOUND = "No User matches the given query."
GROUP_NOT_FOUND = "No Group matches the given query."
NOT_FOUND = "Not found."
INVALID_PAGE = "Invalid page."

# authentik-observed.md §0, §12
NOT_ACCEPTABLE = "Could not satisfy the request Accept header."

# authentik-observed.md §3, §5, §10 (DRF field messages)
REQUIRED = "This field is required."
BLANK = "This field may not be blank."
NULL = "This field may not be null."
UNIQUE = "This field must be unique."
BAD_EMAIL = "Enter a valid email address."
BAD_BOOL = "Must be a valid boolean."
NOT_A_DICT = "Value must be a dictionary, and not have any duplicate keys."
PATH_SLASHES = "No leading or trailing slashes allowed."
PATH_EMPTY_SEGMENT = "No empty segments in user path allowed."
ISA_CREATE = "Setting a user to internal service account is not allowed."
ISA_CHANGE_TYPE = "Can't change internal service account to other user type."
ISA_MODIFY = "Can't modify internal service account users"
NO_DATA = "No data provided"
GROUP_SELF_PARENT = "Cannot set group as parent of itself."
NOT_A_STRING = "Not a valid string."
BAD_DATETIME = ("Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")

# authentik-observed.md §8 / authentik-api.md §2.7: these carry a *string*, not a list.
NO_RECOVERY_FLOW = "No recovery flow set."
NO_EMAIL = "User does not have an email address set."

# authentik-api.md §2.5 [SRV groups.py validate_is_superuser]
def superuser_status_refused(value: bool) -> str:
    return f"User does not have permission to set superuser status to {value}."


def max_length(n: int) -> str:
    return f"Ensure this field has no more than {n} characters."


def invalid_pk(value: Any) -> str:
    return f'Invalid pk "{value}" - object does not exist.'


def not_a_uuid(value: Any) -> str:
    # Django's UUID messages use curly quotes U+201C/U+201D (authentik-observed.md §2, §3).
    return f"\u201c{value}\u201d is not a valid UUID."


def not_a_list(value: Any) -> str:
    return f'Expected a list of items but got type "{type_name(value)}".'


def pk_wrong_type(value: Any) -> str:
    return f"Incorrect type. Expected pk value, received {type_name(value)}."


def bad_choice(value: Any) -> str:
    return f'"{value}" is not a valid choice.'


def filter_bad_choice(value: Any) -> str:
    return f"Select a valid choice. {value} is not one of the available choices."


def not_a_dict_body(value: Any) -> str:
    return f"Invalid data. Expected a dictionary, but got {type_name(value)}."


def method_not_allowed(method: str) -> str:
    return f'Method "{method}" not allowed.'


def unsupported_media(content_type: str) -> str:
    return f'Unsupported media type "{content_type}" in request.'


def type_name(value: Any) -> str:
    """Python type name as DRF prints it (``str``, ``list``, ``int``, ``dict``, ``NoneType``)."""
    return type(value).__name__


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON as Authentik's orjson renderer writes it (no spaces, no \\u escapes)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ApiError(Exception):
    """An answer that is not a success. ``body`` is JSON-serialisable, or None for an HTML reply."""

    def __init__(self, status: int, body: Any = None, *, html: bool = False,
                 allow: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.html = html
        self.allow = allow

    @classmethod
    def detail(cls, status: int, text: str) -> ApiError:
        return cls(status, {"detail": text})

    @classmethod
    def fields(cls, errors: dict[str, Any]) -> ApiError:
        return cls(400, errors)

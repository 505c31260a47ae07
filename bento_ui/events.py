"""The event table's vocabulary and Bento's own kinds of event.

Every input becomes one table with one row per event and the columns `type`, `email`,
`date`, `fields.<name>`, `details.<path.to.key>` and `details` (a JSON object). The
index of that table is the row number the person saw in their spreadsheet.
"""

from __future__ import annotations

TYPE = "type"
EMAIL = "email"
DATE = "date"
DETAILS = "details"
FIELDS_PREFIX = "fields."
DETAILS_PREFIX = "details."
CORE_COLUMNS = (TYPE, EMAIL, DATE)
# A column of tags (`vip, newsletter`): one $tag event per tag (see `bento_ui.tags`).
TAGS = "tags"

PURCHASE = "$purchase"
TAG = "$tag"
REMOVE_TAG = "$remove_tag"
SUBSCRIBE = "$subscribe"
UNSUBSCRIBE = "$unsubscribe"
UPDATE_FIELDS = "$update_fields"

# Bento's kinds, with what each needs, in the words a form or a message uses.
BENTO_KINDS: dict[str, str] = {
    PURCHASE: "a purchase: needs a unique key, an amount in cents and a currency",
    TAG: "adds a tag to the subscriber: needs details.tag",
    REMOVE_TAG: "removes a tag from the subscriber: needs details.tag",
    SUBSCRIBE: "subscribes the email",
    UNSUBSCRIBE: "unsubscribes the email",
    UPDATE_FIELDS: "writes fields to the subscriber's profile",
}

# The detail paths Bento reads for its own kinds.
PURCHASE_KEY = "details.unique.key"
PURCHASE_AMOUNT = "details.value.amount"
PURCHASE_CURRENCY = "details.value.currency"
TAG_NAME = "details.tag"


def is_fields_column(name: str) -> bool:
    return name.startswith(FIELDS_PREFIX)


def is_details_column(name: str) -> bool:
    return name.startswith(DETAILS_PREFIX)


def is_event_column(name: str) -> bool:
    """True for the names an event table may hold."""
    return (
        name in CORE_COLUMNS
        or name in (DETAILS, TAGS)
        or (is_fields_column(name) and len(name) > len(FIELDS_PREFIX))
        or (is_details_column(name) and len(name) > len(DETAILS_PREFIX))
    )

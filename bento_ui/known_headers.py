"""The headers of common exports, and where each goes in an event.

`place(headers)` says, for each header, the target it is known to go to, `ignore` for
the bookkeeping columns nobody wants in Bento (Mailchimp's LEID, Shopify's line items),
or None when the tool cannot place it. Headers are compared squashed: lower case,
accents dropped, only letters and digits ("E-Mail-Adresse" -> "emailadresse",
"Prénom" -> "prenom"). When several headers could fill one target, the best spelling
wins (Shopify's "Created at" over "Paid at") and the others are left unplaced.

Some headers mean something only in their export: Shopify's "Name" is the order number,
Stripe's "id" is the charge id, Eventbrite's "Event Name" is the event's title (not a
Bento event type). The export is told from headers only it writes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from bento_ui import events as ev

IGNORE = "ignore"


def squash(header: str) -> str:
    text = unicodedata.normalize("NFKD", header.lower())
    return re.sub(r"[^0-9a-z]", "", "".join(c for c in text if not unicodedata.combining(c)))


# Spellings per target. For the date the order is a ranking: the first spelling present
# wins. Shopify writes "Created at" for every order and "Paid at" only once paid, so the
# moment the order was placed is the one every row has.
_EMAIL = (
    "email", "emailaddress", "mail", "emails", "emailid", "subscriberemail",
    "customeremail", "useremail", "contactemail", "attendeeemail", "emailadresse",
    "adresseemail", "adressemail", "courriel", "adresseelectronique", "eposta",
)  # fmt: skip
_TYPE = ("type", "event", "eventname", "eventtype", "eventkind", "action")
_DATE = (
    "date", "timestamp", "eventdate", "eventtime", "occurredat", "happenedat", "datetime",
    "createdat", "createdutc", "createddateutc", "created", "createdate", "createddate",
    "orderdate", "purchasedat", "paidat", "signupdate", "signedupat", "registeredat",
    "registrationdate",
    "subscribedat", "optintime", "jointime", "anmeldedatum", "registrierungsdatum",
    "datum", "datedinscription", "dateinscription", "time", "registrationtime",
)  # fmt: skip
_PLACES: dict[str, tuple[str, ...]] = {
    ev.EMAIL: _EMAIL,
    ev.TYPE: _TYPE,
    ev.DATE: _DATE,
    ev.DETAILS: ("details", "detailsjson", "eventdetails"),
    # A cell of several tags (Mailchimp's TAGS): one $tag event per tag.
    ev.TAGS: ("tags", "taglist", "tagnames", "contacttags", "subscribertags", "membertags"),
    ev.PURCHASE_KEY: ("orderid", "ordernumber", "orderno", "uniquekey", "transactionid"),
    ev.PURCHASE_AMOUNT: ("amount", "amountcents", "valueamount", "ordertotalcents", "total"),
    ev.PURCHASE_CURRENCY: ("currency", "currencycode", "valuecurrency"),
    ev.TAG_NAME: ("tag", "tagname"),
    "fields.first_name": ("firstname", "givenname", "vorname", "prenom"),
    "fields.last_name": ("lastname", "surname", "familyname", "nachname", "nom"),
    "fields.member_rating": ("memberrating",),
}

# Technical columns: ids, IP addresses, offsets, bookkeeping times (Mailchimp, CRMs).
_IGNORED = {
    "leid", "euid", "optinip", "gmtoff", "dstoff", "timezone", "cc", "region",
    "confirmtime", "confirmip", "latitude", "longitude", "lastchanged", "notes",
    # Mailchimp's unsubscribed and cleaned exports: when and why they left.
    "unsubtime", "unsubcampaigntitle", "unsubcampaignid", "unsubreason", "unsubreasonother",
    "cleantime", "cleancampaigntitle", "cleancampaignid",
    "recordid", "id", "accountid", "ownerid", "lastmodifieddate", "systemmodstamp",
    "lastactivitydate", "createdbyid", "lastmodifiedbyid",
}  # fmt: skip
_IGNORED_PREFIXES = ("lineitem", "billing", "shipping", "tax")

# Headers only one export writes, to tell it apart, and what its own headers mean.
_SHOPIFY = {"financialstatus", "lineitemname", "fulfillmentstatus"}
_STRIPE = {"sellermessage", "cardlast4", "paymentintentid"}
_EVENTBRITE = {"tickettype", "attendee", "barcode", "attendeestatus"}
_ZOOM = {"jointime", "leavetime", "durationminutes", "meetingid"}
_SALESFORCE = {"systemmodstamp", "masterrecordid", "isdeleted", "createdbyid"}

_CONTEXT_PLACES: list[tuple[set[str], dict[str, str]]] = [
    # A line item goes to the order's cart (Bento's details.cart.items); the rows that
    # continue an order are folded into it (see `line_items`). The price is left out: it
    # is in currency units, and Bento's cart prices are in cents like the amount.
    (_SHOPIFY, {"name": ev.PURCHASE_KEY, "lineitemname": "details.cart.items.product_name",
                "lineitemquantity": "details.cart.items.quantity",
                "lineitemsku": "details.cart.items.product_sku"}),
    (_STRIPE, {"id": ev.PURCHASE_KEY}),
    (_EVENTBRITE, {"eventname": "details.event_name", "tickettype": "details.ticket_type"}),
    (_ZOOM, {"topic": "details.topic", "durationminutes": "details.duration_minutes"}),
]
_CONTEXT_IGNORED: list[tuple[set[str], set[str]]] = [
    (_SHOPIFY, {
        "financialstatus", "paidat", "fulfillmentstatus", "fulfilledat", "cancelledat",
        "subtotal", "taxes", "duties", "discountamount", "paymentmethod", "paymentreference",
        "paymentreferences", "paymentid", "paymenttermsname", "nextpaymentdueat",
        "refundedamount", "outstandingbalance", "employee", "location", "deviceid",
        "risklevel", "source", "receiptnumber", "noteattributes", "vendor",
        # Shopify's tags label orders, not subscribers: no $tag events from them.
        "tags",
    }),
    (_STRIPE, {
        "description", "sellermessage", "amountrefunded", "convertedamount",
        "convertedamountrefunded", "fee", "convertedcurrency", "mode", "statementdescriptor",
        "customerid", "customerdescription", "captured", "disputedamount", "disputestatus",
        "disputereason", "disputedateutc", "disputeevidencedueutc", "invoiceid",
        "invoicenumber", "paymentsourcetype", "destination", "transfer", "transfergroup",
        "paymentintentid", "interchangecosts", "merchantservicecharge",
    }),
    (_EVENTBRITE, {
        "attendee", "barcode", "buyerlastname", "buyerfirstname", "buyeremail", "devicename",
        "hold", "ordertype", "feespaid", "eventbritefees", "eventbritepaymentprocessing",
        "eventid", "pricetier", "group",
        # The ticket's currency: these rows are attendances, not purchases.
        "currency",
    }),
    (_ZOOM, {"leavetime", "guest", "recordingconsent", "meetingid", "starttime", "endtime"}),
    # Salesforce's data export (Contact.csv): record bookkeeping, the second address and
    # the map position; "Name" is First and Last Name again.
    (_SALESFORCE, {
        "isdeleted", "masterrecordid", "recordtypeid", "name", "otherstreet", "othercity",
        "otherstate", "otherpostalcode", "othercountry", "otherlatitude", "otherlongitude",
        "othergeocodeaccuracy", "mailinglatitude", "mailinglongitude",
        "mailinggeocodeaccuracy", "fax", "otherphone", "assistantphone", "assistantname",
        "reportstoid", "description", "hasoptedoutoffax", "lastcurequestdate",
        "lastcuupdatedate", "emailbouncedreason", "emailbounceddate", "jigsaw",
        "jigsawcontactid",
    }),
]
_CARD = re.compile(r"^card")  # Stripe's card columns (brand, last4, address, ...)


def place(headers: Sequence[str]) -> list[str | None]:
    """For each header, its known target, `ignore`, or None (the tool cannot place it)."""
    keys = [squash(h) for h in headers]
    present = set(keys)
    known: dict[str, str] = {}
    ignored: set[str] = set(_IGNORED)
    for marks, meanings in _CONTEXT_PLACES:
        if marks & present:
            known.update(meanings)
    for marks, names in _CONTEXT_IGNORED:
        if marks & present:
            ignored |= names
    stripe = bool(_STRIPE & present)

    candidates: list[tuple[str, int] | None] = []
    for header, key in zip(headers, keys, strict=True):
        stripped = header.strip()
        if ev.is_event_column(stripped):
            candidates.append((stripped, -1))  # written as the event's own name
        elif key in known:
            candidates.append((known[key], 0))
        elif key in ignored or key.startswith(_IGNORED_PREFIXES) or (stripe and _CARD.match(key)):
            candidates.append((IGNORE, 0))
        else:
            candidates.append(next(
                ((target, spellings.index(key)) for target, spellings in _PLACES.items()
                 if key in spellings), None))  # fmt: skip

    best: dict[str, tuple[int, int]] = {}
    for position, candidate in enumerate(candidates):
        if candidate is not None and candidate[0] != IGNORE:
            rank = (candidate[1], position)
            best[candidate[0]] = min(best.get(candidate[0], rank), rank)
    places: list[str | None] = []
    for position, candidate in enumerate(candidates):
        if candidate is None:
            places.append(None)
        elif candidate[0] == IGNORE or best[candidate[0]][1] == position:
            places.append(candidate[0])
        else:
            places.append(None)  # another column fills this target better
    return places

"""The suggested mapping of each real export in tests/data/exports, checked whole:
what goes where, what is ignored as bookkeeping, and what the tool cannot place."""

from __future__ import annotations

from pathlib import Path

import pytest

from bento_ui import read_table, suggest_mapping
from bento_ui.mapping import ColumnMapping, header_row_hint, rest_of, with_rest
from ui.logic import suggest_amounts

EXPORTS = Path(__file__).parent / "data" / "exports"


def suggested(name: str) -> ColumnMapping:
    return suggest_mapping(read_table(EXPORTS / name).columns)


def whole(placed: dict[str, str], headers: list[str]) -> dict[str, str]:
    """`placed`, with every other header of the file ignored."""
    return {h: placed.get(h, "ignore") for h in headers}


def headers_of(name: str) -> list[str]:
    return list(read_table(EXPORTS / name).columns)


def test_mailchimp_members() -> None:
    mapping = suggested("mailchimp_members.csv")
    assert mapping.columns == whole({
        "Email Address": "email", "First Name": "fields.first_name",
        "Last Name": "fields.last_name", "Address": "fields.address",
        "Phone Number": "fields.phone_number", "Birthday": "fields.birthday",
        "MEMBER_RATING": "fields.member_rating", "OPTIN_TIME": "date", "TAGS": "tags",
    }, headers_of("mailchimp_members.csv"))  # fmt: skip
    # LEID, EUID, OPTIN_IP, GMTOFF, ... are ignored: the whole dict above says so.
    assert mapping.unplaced == ["Address", "Phone Number", "Birthday"]
    assert mapping.default_type == ""  # the TAGS column alone makes each row its tags


def test_shopify_orders_are_purchases_dated_when_placed() -> None:
    headers = headers_of("shopify_orders.csv")
    assert len(headers) == 79
    mapping = suggested("shopify_orders.csv")
    assert mapping.columns == whole({
        "Name": "details.unique.key", "Email": "email", "Currency": "details.value.currency",
        "Total": "details.value.amount", "Created at": "date",
        "Accepts Marketing": "fields.accepts_marketing", "Discount Code": "fields.discount_code",
        "Phone": "fields.phone",
        # One line item a row: into the order's cart (the rows that continue an order are
        # folded into it, see test_line_items.py); the price is in currency units, left out.
        "Lineitem name": "details.cart.items.product_name",
        "Lineitem quantity": "details.cart.items.quantity",
        "Lineitem sku": "details.cart.items.product_sku",
    }, headers)  # fmt: skip
    assert mapping.columns["Paid at"] == "ignore"  # empty for unpaid orders
    assert mapping.unplaced == ["Accepts Marketing", "Discount Code", "Phone"]
    assert mapping.default_type == "$purchase"
    assert suggest_amounts(read_table(EXPORTS / "shopify_orders.csv")["Total"]) == "major"


def test_stripe_payments() -> None:
    headers = headers_of("stripe_payments.csv")
    mapping = suggested("stripe_payments.csv")
    assert mapping.columns == whole({
        "id": "details.unique.key", "Created (UTC)": "date", "Amount": "details.value.amount",
        "Currency": "details.value.currency", "Customer Email": "email",
        "Status": "fields.status",
    }, headers)  # fmt: skip
    assert mapping.unplaced == ["Status"]
    assert mapping.default_type == "$purchase"
    assert suggest_amounts(read_table(EXPORTS / "stripe_payments.csv")["Amount"]) == "major"


def test_hubspot_contacts() -> None:
    mapping = suggested("hubspot_contacts.csv")
    unplaced = ["Phone Number", "Contact owner", "Lead Status", "Marketing contact status",
                "Lifecycle Stage", "Company Name"]  # fmt: skip
    assert mapping.columns == whole({
        "First Name": "fields.first_name", "Last Name": "fields.last_name", "Email": "email",
        "Create Date": "date",
        **{h: "fields." + h.lower().replace(" ", "_") for h in unplaced},
    }, headers_of("hubspot_contacts.csv"))  # fmt: skip
    assert mapping.columns["Record ID"] == "ignore"
    assert mapping.unplaced == unplaced


def test_salesforce_contacts() -> None:
    # Salesforce's data export (Contact.csv): API names, every standard field.
    mapping = suggested("salesforce_contacts.csv")
    unplaced = ["Salutation", "MailingStreet", "MailingCity", "MailingState",
                "MailingPostalCode", "MailingCountry", "Phone", "MobilePhone", "HomePhone",
                "Title", "Department", "LeadSource", "Birthdate", "HasOptedOutOfEmail",
                "DoNotCall"]  # fmt: skip
    assert mapping.columns == whole({
        "FirstName": "fields.first_name", "LastName": "fields.last_name", "Email": "email",
        "CreatedDate": "date", "Salutation": "fields.salutation",
        "MailingStreet": "fields.mailing_street", "MailingCity": "fields.mailing_city",
        "MailingState": "fields.mailing_state",
        "MailingPostalCode": "fields.mailing_postal_code",
        "MailingCountry": "fields.mailing_country", "Phone": "fields.phone",
        "MobilePhone": "fields.mobile_phone", "HomePhone": "fields.home_phone",
        "Title": "fields.title", "Department": "fields.department",
        "LeadSource": "fields.lead_source", "Birthdate": "fields.birthdate",
        "HasOptedOutOfEmail": "fields.has_opted_out_of_email", "DoNotCall": "fields.do_not_call",
    }, headers_of("salesforce_contacts.csv"))  # fmt: skip
    # Ids, the second address, the map position and "Name" (first and last again): ignored.
    assert mapping.unplaced == unplaced
    assert mapping.columns["Name"] == mapping.columns["OtherCity"] == "ignore"


def test_eventbrite_attendees_keep_the_ticket_type_as_a_detail() -> None:
    mapping = suggested("eventbrite_attendees.csv")
    unplaced = {"Order #": "fields.order", "Quantity": "fields.quantity",
                "Total Paid": "fields.total_paid", "Attendee Status": "fields.attendee_status",
                "Home City": "fields.home_city",
                "How did you hear about this event?": "fields.how_did_you_hear_about_this_event",
                "Job Title": "fields.job_title", "Company": "fields.company"}  # fmt: skip
    assert mapping.columns == whole({
        "Order Date": "date", "First Name": "fields.first_name", "Last Name": "fields.last_name",
        "Email": "email", "Ticket Type": "details.ticket_type", **unplaced,
    }, headers_of("eventbrite_attendees.csv"))  # fmt: skip
    # The ticket's Currency is ignored: an attendance is not a purchase.
    assert mapping.unplaced == list(unplaced)


def test_eventbrite_event_name_is_the_events_title_not_a_type() -> None:
    mapping = suggest_mapping(["Order #", "Email", "Ticket Type", "Attendee #", "Event Name"])
    assert mapping.columns["Event Name"] == "details.event_name"


def test_zoom_participants() -> None:
    mapping = suggested("zoom_participants.csv")
    assert mapping.columns == whole({
        "Name (Original Name)": "fields.name_original_name", "User Email": "email",
        "Join Time": "date", "Duration (Minutes)": "details.duration_minutes",
    }, headers_of("zoom_participants.csv"))  # fmt: skip
    assert mapping.unplaced == ["Name (Original Name)"]
    # With the meeting's data exported too, the topic goes with each attendance.
    assert suggest_mapping(["Topic", "Meeting ID", "User Email", "Join Time"]).columns[
        "Topic"] == "details.topic"


def test_mailchimp_unsubscribed_and_cleaned_exports_ignore_why_they_left() -> None:
    headers = ["Email Address", "MEMBER_RATING", "OPTIN_TIME", "UNSUB_TIME",
               "UNSUB_CAMPAIGN_TITLE", "UNSUB_REASON", "CLEAN_TIME", "LEID"]  # fmt: skip
    columns = suggest_mapping(headers).columns
    assert [h for h, t in columns.items() if t == "ignore"] == headers[3:]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("signups_de.csv", {"E-Mail-Adresse": "email", "Vorname": "fields.first_name",
                            "Nachname": "fields.last_name", "Anmeldedatum": "date",
                            "Tarif": "fields.tarif"}),
        ("signups_fr.csv", {"Adresse e-mail": "email", "Prénom": "fields.first_name",
                            "Nom": "fields.last_name", "Date d'inscription": "date",
                            "Ville": "fields.ville"}),
        # Two dates: the first that names a signup wins; the other is left to the person.
        ("signups_en.csv", {"Email": "email", "Full Name": "fields.full_name",
                            "Signup Date": "date", "Registered At": "fields.registered_at",
                            "Plan": "fields.plan"}),
    ],
)  # fmt: skip
def test_signup_lists_in_english_german_and_french(name: str, expected: dict[str, str]) -> None:
    assert suggested(name).columns == expected


def test_registered_at_alone_is_the_date() -> None:
    assert suggest_mapping(["Email", "Registered At"]).columns["Registered At"] == "date"


def test_the_rest_can_be_ignored_in_one_switch_and_kept_again() -> None:
    mapping = suggested("hubspot_contacts.csv")
    assert rest_of(mapping) == "fields"
    ignored = with_rest(mapping, "ignore")
    assert rest_of(ignored) == "ignore"
    assert {h: t for h, t in ignored.columns.items() if t != "ignore"} == {
        "First Name": "fields.first_name", "Last Name": "fields.last_name", "Email": "email",
        "Create Date": "date"}  # fmt: skip
    assert with_rest(ignored, "fields").columns == mapping.columns
    assert ColumnMapping.from_json(ignored.to_json()) == ignored


def test_zoom_with_meeting_data_points_at_the_participants_header() -> None:
    # Zoom's "export with meeting data": the meeting (and its host's email) on top.
    path = EXPORTS / "zoom_participants_meeting_data.csv"
    assert header_row_hint(read_table(path)) == 4
    participants = read_table(path, header_row=4)
    assert list(participants.index) == [5, 6]
    assert suggest_mapping(participants.columns).columns == suggested(
        "zoom_participants.csv").columns


@pytest.mark.parametrize("name", sorted(p.name for p in EXPORTS.glob("*.csv")
                                        if "meeting_data" not in p.name))
def test_an_export_whose_header_is_first_gets_no_header_row_hint(name: str) -> None:
    assert header_row_hint(read_table(EXPORTS / name)) is None

"""Offer pages carry schema.org JSON-LD that no harvested text can break out of."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskClient
from index_data import METAL
from index_data import add_offers
from index_data import offer_data
from lxml import html

HOSTILE = "Spawacz </script><script>alert(1)</script> & <!-- Ełk"


def _json_ld(client: FlaskClient, offer_id: int) -> list[dict[str, object]]:
    page = client.get(f"/pl/offers/{offer_id}").get_data(as_text=True)
    assert "</script><script>" not in page
    doc = html.fromstring(page)
    return [
        json.loads(s.text) for s in doc.xpath('//script[@type="application/ld+json"]')
    ]


def test_a_job_offer_is_a_job_posting_with_its_text_intact(
    app: Flask, client: FlaskClient
) -> None:
    ids = add_offers(
        app,
        METAL,
        offer_data(
            "job",
            HOSTILE,
            body="Praca w Ełku.",
            kind="job-offer",
            town="Ełk",
            country="PL",
            organisation={"name": "Spaw-Mont <b>Ełk</b>", "country": "PL"},
        ),
    )
    [data] = _json_ld(client, ids["job"])
    assert data["@type"] == "JobPosting"
    assert data["title"] == HOSTILE
    assert data["hiringOrganization"] == {
        "@type": "Organization",
        "name": "Spaw-Mont <b>Ełk</b>",
    }
    assert data["jobLocation"] == {
        "@type": "Place",
        "address": {
            "@type": "PostalAddress",
            "addressLocality": "Ełk",
            "addressCountry": "PL",
        },
    }
    assert str(data["url"]).endswith(f"/pl/offers/{ids['job']}")
    assert data["sameAs"] == "https://member.example/offers/job"


def test_a_request_is_a_demand_and_a_job_seeking_ad_carries_none(
    app: Flask, client: FlaskClient
) -> None:
    ids = add_offers(
        app,
        METAL,
        offer_data("ask", "Szukamy galwanizerni", kind="business-request"),
        offer_data("cv", "Spawacz szuka pracy", kind="job-seeking"),
    )
    assert [d["@type"] for d in _json_ld(client, ids["ask"])] == ["Demand"]
    assert _json_ld(client, ids["cv"]) == []

"""The organisations behind offers: one row per firm (folded name and country),
completed by what later items tell, resolved for a whole batch at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import T0
from helpers import write_registry
from index_data import offer_data
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from hub import index
from hub.models import Offer
from hub.models import Organisation
from hub.models import Source
from hub.normalize import OrganisationData
from hub.normalize import ProfileData
from hub.registry import load

FIRM = "Metal-Tech Białystok Sp. z o.o."


@pytest.fixture
def db(
    sessions: sessionmaker[Session], tmp_path: Path
) -> Iterator[tuple[Session, Source, Source]]:
    """A session and two sources of one Polish cluster."""
    urls = {"a": "https://a.example/feed", "b": "https://b.example/feed"}
    registry = load(write_registry(tmp_path / "clusters.yaml", urls))
    with sessions() as session:
        index.sync_registry(session, registry, T0)
        a, b = session.scalars(sa.select(Source).order_by(Source.key))
        yield session, a, b


def by(name: str, **facts: Any) -> dict[str, Any]:
    return {"organisation": {"name": name, **facts}}


def firms(db: Session) -> list[tuple[str, str, str | None, str | None, dict[str, str]]]:
    rows = db.execute(
        sa.select(
            Organisation.name,
            Organisation.country,
            Organisation.town,
            Organisation.website,
            Organisation.identifiers,
        ).order_by(Organisation.country, Organisation.name)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def firm_of(db: Session, guid: str) -> str | None:
    return db.scalar(
        sa.select(Organisation.name)
        .join(Offer, Offer.organisation_id == Organisation.id)
        .where(Offer.guid == guid)
    )


def test_offers_of_one_firm_share_its_row_whatever_its_spelling(
    db: tuple[Session, Source, Source],
) -> None:
    session, a, b = db
    index.upsert_offers(
        session,
        a,
        [
            offer_data("o1", "Toczenie CNC", **by(FIRM, town="Białystok")),
            offer_data("o2", "Frezowanie", **by("METAL-TECH BIALYSTOK SP. Z O.O.")),
            offer_data("o3", "Spawanie", **by(FIRM, country="LT")),  # another firm
            offer_data("o4", "Gięcie blach"),  # nobody named
        ],
        T0,
    )
    index.upsert_offers(session, b, [offer_data("o5", "Cięcie", **by(FIRM))], T0)
    session.commit()
    assert firms(session) == [
        (FIRM, "LT", None, None, {}),
        (FIRM, "PL", "Białystok", None, {}),  # the cluster's country, the first name
    ]
    assert [firm_of(session, g) for g in ("o1", "o2", "o5", "o4")] == [FIRM] * 3 + [
        None
    ]
    pl, lt = (
        session.scalar(sa.select(Offer.organisation_id).where(Offer.guid == guid))
        for guid in ("o1", "o3")
    )
    assert pl != lt


def test_a_known_firm_takes_what_items_tell_and_keeps_what_they_leave_out(
    db: tuple[Session, Source, Source],
) -> None:
    session, a, b = db
    first = by(FIRM, town="Białystok", website="https://old.example/")
    first["organisation"]["identifiers"] = (("nip", "9660000118"),)
    index.upsert_offers(session, a, [offer_data("o1", "Toczenie", **first)], T0)
    session.commit()
    later = [
        offer_data("o2", "Frezowanie", **by(FIRM, website="https://new.example/")),
        offer_data("o3", "Spawanie", **by(FIRM, identifiers=(("krs", "0000401127"),))),
    ]
    index.upsert_offers(session, b, later, T0)
    session.commit()
    assert firms(session) == [
        (
            FIRM,
            "PL",
            "Białystok",
            "https://new.example/",
            {"nip": "9660000118", "krs": "0000401127"},
        )
    ]


def test_a_profile_and_offers_of_its_firm_in_one_transaction_both_hold(
    db: tuple[Session, Source, Source],
) -> None:
    session, a, b = db
    firm = OrganisationData(FIRM, website="https://metal-tech.example/")
    profile = ProfileData(
        "p1", firm, "<p>Obróbka CNC.</p>", ("toczenie",), (), None, "pl", "h1"
    )
    index.upsert_profiles(session, a, [profile], T0)
    offer = offer_data("o1", "Toczenie", **by(FIRM, town="Białystok"))
    index.upsert_offers(session, b, [offer], T0)
    session.commit()
    session.expire_all()
    org = session.scalar(sa.select(Organisation))
    assert org is not None
    assert (org.description, org.town, org.website) == (
        "<p>Obróbka CNC.</p>",
        "Białystok",
        "https://metal-tech.example/",
    )
    assert firm_of(session, "o1") == FIRM


def test_a_batch_resolves_its_firms_in_a_few_statements(
    db: tuple[Session, Source, Source],
) -> None:
    """Not a SELECT and an INSERT per firm: a first harvest of profile feeds names
    a firm in every offer (bench/harvest.py --profile)."""
    session, a, _ = db
    offers = [
        offer_data(f"o{i}", f"Oferta {i}", **by(f"Firma {i % 300}", town="Ełk"))
        for i in range(900)
    ]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "organisations" in statement:
            statements.append(statement)

    engine = session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        index.upsert_offers(session, a, offers, T0)
        session.commit()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len(firms(session)) == 300
    assert len(statements) <= 3, statements  # one SELECT, one INSERT
    assert firm_of(session, "o299") == "Firma 299"
    assert firm_of(session, "o899") == "Firma 299"

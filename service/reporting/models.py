"""A report of a risk of crime to a receiving unit, and its acknowledgement."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text, text
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class CrimeReport(SQLModel, table=True):
    """One report to one unit (a filing to the 派出所 and the 司法所 is two rows, each acknowledged
    on its own). What was said and the preventive steps can name people: both, and the
    acknowledgement's note, are sealed with the data key like a party's personal fields."""

    __tablename__ = "crime_report"
    __table_args__ = (
        Index("ix_crime_report_case", "case_id"),
        Index("ix_crime_report_to_unit", "to_unit_code", "reported_at"),
        Index("ix_crime_report_from_unit", "from_unit_code", "reported_at"),
        # The sweep's and the overdue list's question: unacknowledged reports, oldest first.
        Index(
            "ix_crime_report_open",
            "reported_at",
            postgresql_where=text("acknowledged_at IS NULL"),
            sqlite_where=text("acknowledged_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    raised_by: str = Field(max_length=16)  # triage | mediator (workflows.reporting.RaisedBy)
    from_unit_code: str = Field(max_length=32)  # the unit that holds the case and owes the report
    to_unit_code: str = Field(max_length=32)
    addressee: str = Field(max_length=16)  # police | justice | government
    reported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reported_by: str = Field(max_length=64)
    reported_by_role: str = Field(max_length=32)
    statement: str = Field(sa_column=Column(Text, nullable=False))  # sealed
    preventive_steps: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # sealed
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    acknowledged_by: str | None = Field(default=None, max_length=64)
    ack_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # sealed
    # When the sweep told the reporting unit's coordinators the acknowledgement is overdue (once).
    overdue_notified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))

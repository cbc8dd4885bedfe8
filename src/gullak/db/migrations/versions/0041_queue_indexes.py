"""Partial indexes for the console's queues, counted beside their names on every page:
KYC records and offers awaiting review, visible reviews that users flagged.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_kyc_records_pending", "kyc_records", ["id"],
                    postgresql_where=sa.text("status = 'pending'::text"))
    op.create_index("ix_offers_pending", "offers", ["id"],
                    postgresql_where=sa.text("status = 'pending'::text"))
    op.create_index("ix_merchant_reviews_flagged", "merchant_reviews", ["id"],
                    postgresql_where=sa.text("status = 'visible'::text AND flag_count > 0"))


def downgrade() -> None:
    op.drop_index("ix_merchant_reviews_flagged", table_name="merchant_reviews")
    op.drop_index("ix_offers_pending", table_name="offers")
    op.drop_index("ix_kyc_records_pending", table_name="kyc_records")

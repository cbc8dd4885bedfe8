"""Support: users' tickets with SLA timers, their messages (internal notes flagged) and
attachments' metadata, the back office's canned replies, the sequence of ticket numbers, and
the permissions of support agents, and the notification template of an agent's reply.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("support.read", "Read support tickets and canned replies"),
    ("support.reply", "Reply to support tickets, add internal notes, change their status"),
    ("support.manage", "Assign and re-prioritise tickets, edit canned replies"),
    ("support.view_customer", "See a ticket's customer: profile, balances, orders, withdrawals"),
]
REPLY_TEMPLATE = "support.reply"
REPLY_CHANNELS = ["inbox", "push"]
REPLY_TEXT = {
    "en": ("Reply on {number}", "Support replied to your ticket \"{title}\". Open it to read."),
    "hi": ("{number} पर जवाब", "सपोर्ट ने आपके टिकट \"{title}\" का जवाब दिया है। पढ़ने के लिए खोलें।"),
}


def upgrade() -> None:
    op.create_table('support_canned_replies',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('category', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("category IS NULL OR category IN ('order', 'payment', 'refund', 'cashback', 'withdrawal', 'rewards', 'account', 'technical', 'other')", name=op.f('ck_support_canned_replies_category')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_canned_replies')),
    sa.UniqueConstraint('code', name=op.f('uq_support_canned_replies_code'))
    )
    op.create_table('support_tickets',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('number', sa.Text(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('priority', sa.Text(), server_default=sa.text("'normal'"), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'open'"), nullable=False),
    sa.Column('subject_type', sa.Text(), server_default=sa.text("'general'"), nullable=False),
    sa.Column('subject_id', sa.UUID(), nullable=True),
    sa.Column('assignee_id', sa.UUID(), nullable=True),
    sa.Column('department', sa.Text(), nullable=True),
    sa.Column('first_response_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolution_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_response_breached', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('resolution_breached', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('reopen_count', sa.SmallInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('rating', sa.SmallInteger(), nullable=True),
    sa.Column('rating_comment', sa.Text(), nullable=True),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(subject_type = 'general') = (subject_id IS NULL)", name=op.f('ck_support_tickets_subject')),
    sa.CheckConstraint("category IN ('order', 'payment', 'refund', 'cashback', 'withdrawal', 'rewards', 'account', 'technical', 'other')", name=op.f('ck_support_tickets_category')),
    sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name=op.f('ck_support_tickets_priority')),
    sa.CheckConstraint("status IN ('open', 'pending_agent', 'pending_user', 'resolved', 'closed')", name=op.f('ck_support_tickets_status')),
    sa.CheckConstraint("subject_type IN ('order', 'payment', 'withdrawal', 'redemption', 'general')", name=op.f('ck_support_tickets_subject_type')),
    sa.CheckConstraint('rating IS NULL OR rating BETWEEN 1 AND 5', name=op.f('ck_support_tickets_rating')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_tickets')),
    sa.UniqueConstraint('id', 'user_id', name=op.f('uq_support_tickets_id_user_id')),
    sa.UniqueConstraint('number', name=op.f('uq_support_tickets_number'))
    )
    op.create_index('ix_support_tickets_active', 'support_tickets', ['status', 'id'], unique=False, postgresql_where=sa.text("status IN ('open', 'pending_agent', 'pending_user')"))
    op.create_index('ix_support_tickets_assignee', 'support_tickets', ['assignee_id', 'id'], unique=False)
    op.create_index('ix_support_tickets_user', 'support_tickets', ['user_id', 'id'], unique=False)
    op.create_table('support_attachments',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('ticket_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('author_kind', sa.Text(), nullable=False),
    sa.Column('author_id', sa.UUID(), nullable=True),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('content_type', sa.Text(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.Text(), nullable=False),
    sa.Column('storage_key', sa.Text(), nullable=False),
    sa.Column('internal', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("NOT internal OR author_kind = 'admin'", name=op.f('ck_support_attachments_internal')),
    sa.CheckConstraint("author_kind IN ('user', 'admin', 'system')", name=op.f('ck_support_attachments_author_kind')),
    sa.CheckConstraint('size > 0', name=op.f('ck_support_attachments_size')),
    sa.ForeignKeyConstraint(['ticket_id', 'user_id'], ['support_tickets.id', 'support_tickets.user_id'], name=op.f('fk_support_attachments_ticket_id_support_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_attachments'))
    )
    op.create_index('ix_support_attachments_ticket', 'support_attachments', ['ticket_id', 'id'], unique=False)
    op.create_table('support_messages',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('ticket_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('author_kind', sa.Text(), nullable=False),
    sa.Column('author_id', sa.UUID(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('internal', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('canned_reply_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("NOT internal OR author_kind = 'admin'", name=op.f('ck_support_messages_internal')),
    sa.CheckConstraint("author_kind IN ('user', 'admin', 'system')", name=op.f('ck_support_messages_author_kind')),
    sa.ForeignKeyConstraint(['canned_reply_id'], ['support_canned_replies.id'], name=op.f('fk_support_messages_canned_reply_id_support_canned_replies')),
    sa.ForeignKeyConstraint(['ticket_id', 'user_id'], ['support_tickets.id', 'support_tickets.user_id'], name=op.f('fk_support_messages_ticket_id_support_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_messages'))
    )
    op.create_index('ix_support_messages_ticket', 'support_messages', ['ticket_id', 'id'], unique=False)

    op.execute("CREATE SEQUENCE support_ticket_numbers")
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])
    templates = sa.table("notification_templates", sa.column("code"), sa.column("category"),
                         sa.column("description"),
                         sa.column("channels", postgresql.ARRAY(sa.Text())),
                         sa.column("variables", postgresql.ARRAY(sa.Text())),
                         sa.column("content", postgresql.JSONB()))
    op.bulk_insert(templates, [{
        "code": REPLY_TEMPLATE, "category": "transactional",
        "description": "An agent answered the user's support ticket",
        "channels": REPLY_CHANNELS, "variables": ["number", "title"],
        "content": {locale: {c: {"title": title, "body": body} for c in REPLY_CHANNELS}
                    for locale, (title, body) in REPLY_TEXT.items()}}])


def downgrade() -> None:
    op.execute(f"DELETE FROM notification_deliveries WHERE notification_id IN (SELECT id FROM"
               f" notifications WHERE template = '{REPLY_TEMPLATE}')")
    op.execute(f"DELETE FROM notifications WHERE template = '{REPLY_TEMPLATE}'")
    op.execute(f"DELETE FROM notification_templates WHERE code = '{REPLY_TEMPLATE}'")
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.execute("DROP SEQUENCE support_ticket_numbers")
    op.drop_index('ix_support_messages_ticket', table_name='support_messages')
    op.drop_table('support_messages')
    op.drop_index('ix_support_attachments_ticket', table_name='support_attachments')
    op.drop_table('support_attachments')
    op.drop_index('ix_support_tickets_user', table_name='support_tickets')
    op.drop_index('ix_support_tickets_assignee', table_name='support_tickets')
    op.drop_index('ix_support_tickets_active', table_name='support_tickets')
    op.drop_table('support_tickets')
    op.drop_table('support_canned_replies')

"""Merchants: onboarding, outlets and hours, merchant users, documents, bank accounts,
commissions, affiliate settings; reviews and ratings; CMS pages and SEO redirects."""

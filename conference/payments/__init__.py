"""Card payment through Stripe Checkout, webhooks, refunds and reconciliation."""

"""Customs broker simulator: filings in, holds (with a reason) and releases out to the hub
as signed webhooks, in the broker's own JSON or as canonical customs events."""

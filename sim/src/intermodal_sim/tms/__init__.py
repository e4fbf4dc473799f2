"""TMS / dispatch simulator: load tenders in (X12 204 or REST jobs), 990 answers, driver
and truck assignment, 214 statuses and settlements (JSON or X12 210) out to the hub."""

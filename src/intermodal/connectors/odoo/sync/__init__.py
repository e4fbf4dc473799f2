"""Master data from Odoo: the scheduled batch sync and what it feeds (currency conversion).

`batch.MasterDataSync` copies customers and carriers, products, companies, currencies and
their rates page by page behind a `(write_date, id)` cursor per model; `rates.convert`
turns an amount into another currency with those rates as Odoo would on a given date.
"""

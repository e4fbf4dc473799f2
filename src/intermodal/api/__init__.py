"""The HTTP application: thin route modules put together by `app.create_app`.

`health`, `metrics`, `shipments` (reads and receipts), `admin` (dead letters), `landing`
(`GET /`) and `docs` (Swagger UI from vendored files) are routes; partner ingress lives
under `intermodal.ingress`. `errors` and `http` hold what every route shares: the error
answers and the request plumbing. (Nothing is imported here, so connectors can use
`api.errors` and `api.http` without importing the whole application.)
"""

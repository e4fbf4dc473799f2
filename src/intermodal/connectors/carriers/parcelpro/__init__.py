"""ParcelPro: a parcel carrier with a JSON API (bearer key, kg/cm, cents, status codes)."""

from intermodal.connectors.carriers.parcelpro.mappers.mapper import ParcelProConnector

__all__ = ["ParcelProConnector"]

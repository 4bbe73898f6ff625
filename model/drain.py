"""pcp draining of Linux 4.3 (``drain_pages_zone()`` / ``drain_pages()``)."""

from __future__ import annotations

from .free import free_pcppages_bulk
from .record import Transition
from .zone import Zone


def drain_pages_zone(zone: Zone, rec: Transition, cpu: int) -> None:
    """Mirror of ``drain_pages_zone()``: every pcp page of ``cpu`` back to the buddy lists."""
    pcp = zone.pageset[cpu]
    if pcp.count:
        count = pcp.count
        free_pcppages_bulk(zone, rec, count, pcp)
        pcp.count = 0
        rec.pcp_count_delta -= count


def drain_pages(zone: Zone, rec: Transition, cpu: int) -> None:
    """Mirror of ``drain_pages()``: the model has one populated zone."""
    drain_pages_zone(zone, rec, cpu)


def drain_zone_pages(zone: Zone, rec: Transition, cpu: int) -> None:
    """Mirror of ``drain_zone_pages()`` (the NUMA vmstat timer): at most ``batch`` pages."""
    pcp = zone.pageset[cpu]
    to_drain = min(pcp.count, pcp.batch)
    if to_drain > 0:
        free_pcppages_bulk(zone, rec, to_drain, pcp)
        pcp.count -= to_drain
        rec.pcp_count_delta -= to_drain

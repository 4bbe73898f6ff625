"""rmqueue.model: an executable model of Linux 4.3's zone and per-CPU page allocator.

Start with :class:`Allocator` (a booted zone with ``alloc``/``free``/``drain``); the kernel
functions themselves live in the submodules named after their part of mm/page_alloc.c.
"""

from .allocator import Allocator
from .config import ZoneConfig
from .errors import ConfigError, InternalError, RequestError, RmqueueError
from .record import Transition
from .types import Gfp, MigrateType
from .zone import Zone

__all__ = [
    "Allocator",
    "ConfigError",
    "Gfp",
    "InternalError",
    "MigrateType",
    "RequestError",
    "RmqueueError",
    "Transition",
    "Zone",
    "ZoneConfig",
]

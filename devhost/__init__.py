"""Local durable host: runs a Python v2 Durable Functions app without Functions Core Tools (dev/test only)."""

from .clock import ScaledClock, VirtualClock
from .host import Host

__all__ = ["Host", "ScaledClock", "VirtualClock"]

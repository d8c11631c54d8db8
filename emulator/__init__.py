"""Local ARM emulator for Microsoft.Compute restore points (dev/test only, never deployed).

It speaks the restore point REST API as strictly as Azure does, so the product is proven against
Azure's rules rather than against its own understanding of them. See docs/emulator.md.
"""

from emulator.clock import ScaledClock, VirtualClock
from emulator.scenario import DEFAULT_SCENARIO
from emulator.server import EmulatorHandle, start_emulator

__all__ = ["DEFAULT_SCENARIO", "EmulatorHandle", "ScaledClock", "VirtualClock", "start_emulator"]

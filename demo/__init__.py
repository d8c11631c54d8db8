"""`make demo`: the emulator and the local durable host as separate processes, driven through the app's HTTP API."""
